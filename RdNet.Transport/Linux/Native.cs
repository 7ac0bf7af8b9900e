using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace RdNet.Transport.Linux;

/// <summary>Kernel ABI pieces Tmds.LibC does not define (values from linux/if_tun.h, linux/if.h, linux/route.h, linux/if_arp.h).</summary>
internal static class Native
{
    /// <summary>IFNAMSIZ: interface names are at most 15 bytes plus the terminating NUL.</summary>
    public const int InterfaceNameSize = 16;
    public const int MaxInterfaceNameLength = InterfaceNameSize - 1;

    // _IOW('T', 202, int)
    public const int TUNSETIFF = 0x400454ca;
    public const short IFF_TUN = 0x0001;
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    /// <summary>Every read and write carries a struct virtio_net_hdr in front of the frame.</summary>
    public const short IFF_VNET_HDR = 0x4000;
    /// <summary>_IOW('T', 216, int): the size of that header (10 = struct virtio_net_hdr).</summary>
    public const int TUNSETVNETHDRSZ = 0x400454d8;
    /// <summary>_IOW('T', 220, int): the header's fields are little-endian (rather than the machine's order).</summary>
    public const int TUNSETVNETLE = 0x400454dc;

    public const short IFF_UP = 0x1;

    public const ushort RTF_UP = 0x0001;
    public const ushort RTF_GATEWAY = 0x0002;

    public const ushort ARPHRD_ETHER = 1;

    /// <summary>Throws the caller-visible error for a failed syscall, reading errno right away.</summary>
    public static LinuxNetworkException Error(string operation, string? target) =>
        new(operation, target, LibC.errno);

    /// <summary>
    /// Checks a name the way the kernel's dev_valid_name does, so callers get a clear
    /// ArgumentException instead of an EINVAL from an ioctl.
    /// </summary>
    public static void ValidateInterfaceName(string name, string paramName)
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        if (name.Length == 0)
            throw new ArgumentException("Interface name must not be empty.", paramName);
        var bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes > MaxInterfaceNameLength)
            throw new ArgumentException(
                $"Interface name '{name}' is {bytes} bytes long; Linux allows at most {MaxInterfaceNameLength} (IFNAMSIZ {InterfaceNameSize} including the terminating NUL).",
                paramName);
        if (name is "." or "..")
            throw new ArgumentException($"Interface name '{name}' is not allowed.", paramName);
        foreach (var c in name)
        {
            if (c == '/' || c == ':' || c == '\0' || char.IsWhiteSpace(c))
                throw new ArgumentException(
                    $"Interface name '{name}' contains '{(c == '\0' ? "\\0" : c.ToString())}'; Linux interface names cannot contain '/', ':', NUL or whitespace.",
                    paramName);
        }
    }

    public static unsafe IfReq NewIfReq(string name)
    {
        IfReq req = default;
        var dest = new Span<byte>(req.Name, InterfaceNameSize);
        Encoding.UTF8.GetBytes(name, dest[..MaxInterfaceNameLength]);
        return req;
    }

    public static unsafe string ReadName(in IfReq req)
    {
        fixed (byte* p = req.Name)
        {
            var span = new ReadOnlySpan<byte>(p, InterfaceNameSize);
            var end = span.IndexOf((byte)0);
            return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
        }
    }

    /// <summary>Opens a path (NUL-terminated copy on the stack) with the given flags.</summary>
    public static unsafe int Open(string path, int flags)
    {
        var max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        var n = Encoding.UTF8.GetBytes(path, buffer);
        buffer[n] = 0;
        fixed (byte* p = buffer)
        {
            int fd;
            do
            {
                fd = LibC.open(p, flags, 0);
            } while (fd < 0 && LibC.errno == LibC.EINTR);
            return fd;
        }
    }
}

/// <summary>struct ifreq: a 16-byte name followed by a 24-byte union (40 bytes on LP64).</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct IfReq
{
    [FieldOffset(0)] public fixed byte Name[Native.InterfaceNameSize];

    /// <summary>ifr_flags.</summary>
    [FieldOffset(16)] public short Flags;

    /// <summary>ifr_ifindex / ifr_mtu.</summary>
    [FieldOffset(16)] public int Value;

    /// <summary>ifr_addr / ifr_hwaddr / ifr_netmask as a struct sockaddr.</summary>
    [FieldOffset(16)] public SockAddr Address;
}

/// <summary>
/// struct sockaddr (16 bytes). For AF_INET it is a sockaddr_in: port in Data[0..2],
/// address in network order in Data[2..6]; for a hardware address the MAC is in Data[0..6].
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct SockAddr
{
    public ushort Family;
    public fixed byte Data[14];

    public static SockAddr Inet(Wire.Ipv4Address address)
    {
        SockAddr sa = default;
        sa.Family = (ushort)(int)LibC.AF_INET;
        address.Write(new Span<byte>(sa.Data + 2, 4));
        return sa;
    }
}

/// <summary>
/// struct rtentry as the kernel and glibc lay it out on LP64 (x86_64, arm64): 120 bytes,
/// rt_dev at offset 88. The 32-bit layout differs (rt_pad4 is a single short), so it is not supported.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RtEntry
{
    public nuint Pad1;
    public SockAddr Destination;
    public SockAddr Gateway;
    public SockAddr Genmask;
    public ushort Flags;
    public short Pad2;
    public nuint Pad3;
    public byte Tos;
    public byte Class;
    public fixed short Pad4[3];
    public short Metric;
    public byte* Device;
    public nuint Mtu;
    public nuint Window;
    public ushort InitialRtt;
}
