using System.Runtime.InteropServices;
using Tmds.Linux;

namespace RdNet.Transport.Linux;

/// <summary>
/// A non-persistent, single-queue TAP interface (IFF_TAP | IFF_NO_PI): every read returns one
/// whole Ethernet frame and every write injects one. The interface exists in the network
/// namespace of the thread that called <see cref="Create"/> and disappears when the device is
/// disposed. The descriptor is non-blocking; use <see cref="WaitReadable"/> /
/// <see cref="WaitWritable"/> to wait. Read and Write may be called from different threads.
/// Created with a virtio-net header (IFF_VNET_HDR), every read and write starts with the
/// <see cref="Offload.VirtioNetHeader"/>, which lets a write carry one large TCP segment (GSO);
/// no offload is asked for reads (TUNSETOFFLOAD is never called), so the kernel still hands over
/// whole, checksummed frames of at most the MTU.
/// </summary>
public sealed partial class TapDevice : IDisposable
{
    private readonly FdHandle _handle;

    private TapDevice(FdHandle handle, string name, bool virtioNetHeader)
    {
        _handle = handle;
        Name = name;
        HasVirtioNetHeader = virtioNetHeader;
        Fd = (int)handle.DangerousGetHandle();
    }

    /// <summary>The interface name the kernel assigned (equal to the requested one unless it held a %d pattern).</summary>
    public string Name { get; }

    /// <summary>True when every read and write carries a virtio-net header in front of the frame.</summary>
    public bool HasVirtioNetHeader { get; }

    /// <summary>The /dev/net/tun descriptor. Do not close it; it is invalid after <see cref="Dispose"/>.</summary>
    public int Fd { get; }

    /// <summary>Creates the interface <paramref name="name"/> in the calling thread's network namespace. Needs CAP_NET_ADMIN.</summary>
    /// <param name="virtioNetHeader">Open it with IFF_VNET_HDR (a 10-byte little-endian header before every frame).</param>
    public static unsafe TapDevice Create(string name, bool virtioNetHeader = false)
    {
        Native.ValidateInterfaceName(name, nameof(name));

        var fd = Native.Open("/dev/net/tun", LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (fd < 0) throw Native.Error("open /dev/net/tun for", name);
        var handle = new FdHandle(fd);
        try
        {
            var req = Native.NewIfReq(name);
            req.Flags = (short)(Native.IFF_TAP | Native.IFF_NO_PI | (virtioNetHeader ? Native.IFF_VNET_HDR : 0));
            if (LibC.ioctl(fd, Native.TUNSETIFF, &req) < 0) throw Native.Error("TUNSETIFF", name);
            if (virtioNetHeader)
            {
                int size = Offload.VirtioNetHeader.Length, littleEndian = 1;
                if (LibC.ioctl(fd, Native.TUNSETVNETHDRSZ, &size) < 0) throw Native.Error("TUNSETVNETHDRSZ", name);
                if (LibC.ioctl(fd, Native.TUNSETVNETLE, &littleEndian) < 0) throw Native.Error("TUNSETVNETLE", name);
            }
            return new TapDevice(handle, Native.ReadName(req), virtioNetHeader);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one frame into <paramref name="buffer"/> and returns its length, or 0 when no frame is
    /// queued. The buffer should hold the interface MTU plus 14 bytes of Ethernet header; the
    /// kernel truncates longer frames.
    /// </summary>
    public unsafe int Read(Span<byte> buffer)
    {
        var addRef = false;
        try
        {
            _handle.DangerousAddRef(ref addRef);
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    long n = LibC.read(Fd, p, buffer.Length);
                    if (n >= 0) return (int)n;
                    var errno = LibC.errno;
                    if (errno == LibC.EINTR) continue;
                    if (errno == LibC.EAGAIN) return 0;
                    throw new LinuxNetworkException("read", Name, errno);
                }
            }
        }
        finally
        {
            if (addRef) _handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Injects one Ethernet frame. Returns false when the kernel dropped it because its queue is
    /// full (EAGAIN/ENOBUFS); callers count that as a drop.
    /// </summary>
    public bool Write(ReadOnlySpan<byte> frame) => Write(frame, []);

    /// <summary>
    /// Injects one frame given in two pieces (e.g. a virtio-net header and the frame; the second may be empty) with one
    /// writev(2), so neither is copied. False when the kernel's queue is full (EAGAIN/ENOBUFS).
    /// </summary>
    public unsafe bool Write(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        var addRef = false;
        try
        {
            _handle.DangerousAddRef(ref addRef);
            fixed (byte* a = first)
            fixed (byte* b = second)
            {
                var iov = stackalloc IoVector[2];
                iov[0] = new IoVector { Base = a, Length = (nuint)first.Length };
                iov[1] = new IoVector { Base = b, Length = (nuint)second.Length };
                while (true)
                {
                    long n = writev(Fd, iov, 2);
                    if (n >= 0) return true;
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EINTR) continue;
                    if (errno == LibC.EAGAIN || errno == LibC.ENOBUFS) return false;
                    throw new LinuxNetworkException("writev", Name, errno);
                }
            }
        }
        finally
        {
            if (addRef) _handle.DangerousRelease();
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint writev(int fd, IoVector* iov, int count);

    /// <summary>Waits until a frame can be read (or the descriptor reports an error). False on timeout or EINTR. A negative timeout waits forever.</summary>
    public bool WaitReadable(int timeoutMilliseconds) => Poll(LibC.POLLIN, timeoutMilliseconds);

    /// <summary>Waits until a frame can be written. False on timeout or EINTR. A negative timeout waits forever.</summary>
    public bool WaitWritable(int timeoutMilliseconds) => Poll(LibC.POLLOUT, timeoutMilliseconds);

    private unsafe bool Poll(short events, int timeoutMilliseconds)
    {
        var addRef = false;
        try
        {
            // The reference keeps the descriptor number from being closed (and reused by another
            // open) while poll still watches it; a concurrent Dispose closes it when poll returns.
            _handle.DangerousAddRef(ref addRef);
            pollfd pfd = default;
            pfd.fd = Fd;
            pfd.events = events;
            var rc = LibC.poll(&pfd, 1, timeoutMilliseconds);
            if (rc > 0) return pfd.revents != 0;
            if (rc == 0) return false;
            var errno = LibC.errno;
            if (errno == LibC.EINTR) return false;
            throw new LinuxNetworkException("poll", Name, errno);
        }
        finally
        {
            if (addRef) _handle.DangerousRelease();
        }
    }

    /// <summary>Closes the descriptor (exactly once, even when called repeatedly or concurrently), which removes the interface.</summary>
    public void Dispose() => _handle.Dispose();

    private sealed class FdHandle : SafeHandle
    {
        public FdHandle(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

        public override bool IsInvalid => handle.ToInt64() < 0;

        protected override bool ReleaseHandle() => LibC.close((int)handle.ToInt64()) == 0;
    }
}
