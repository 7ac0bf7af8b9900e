using System.Globalization;
using RdNet.Transport.Wire;
using Tmds.Linux;

namespace RdNet.Transport.Linux;

/// <summary>
/// Interface configuration through the classic SIOC* ioctls on an AF_INET datagram socket.
/// Every call opens its socket on the calling thread, so it acts on that thread's network
/// namespace (see <see cref="NetNamespace.RunIn(string, Action)"/>). Needs CAP_NET_ADMIN to change anything.
/// </summary>
public static class NetInterface
{
    /// <summary>True when the interface exists in the calling thread's namespace.</summary>
    public static unsafe bool Exists(string name)
    {
        var req = Request(name);
        using var socket = ControlSocket.Open(name);
        if (LibC.ioctl(socket.Fd, LibC.SIOCGIFINDEX, &req) == 0) return true;
        var errno = LibC.errno;
        if (errno == LibC.ENODEV) return false;
        throw new LinuxNetworkException("SIOCGIFINDEX", name, errno);
    }

    public static unsafe int GetIndex(string name)
    {
        var req = Request(name);
        Ioctl(LibC.SIOCGIFINDEX, "SIOCGIFINDEX", name, &req);
        return req.Value;
    }

    /// <summary>Sets IFF_UP, keeping the other flags (read-modify-write of SIOCGIFFLAGS/SIOCSIFFLAGS).</summary>
    public static unsafe void SetUp(string name)
    {
        var req = Request(name);
        using var socket = ControlSocket.Open(name);
        socket.Ioctl(LibC.SIOCGIFFLAGS, "SIOCGIFFLAGS", name, &req);
        if ((req.Flags & Native.IFF_UP) != 0) return;
        req.Flags |= Native.IFF_UP;
        socket.Ioctl(LibC.SIOCSIFFLAGS, "SIOCSIFFLAGS", name, &req);
    }

    /// <summary>True when the administrative IFF_UP flag is set (not whether the carrier is up).</summary>
    public static unsafe bool IsUp(string name)
    {
        var req = Request(name);
        Ioctl(LibC.SIOCGIFFLAGS, "SIOCGIFFLAGS", name, &req);
        return (req.Flags & Native.IFF_UP) != 0;
    }

    public static unsafe void SetMacAddress(string name, MacAddress mac)
    {
        var req = Request(name);
        req.Address.Family = Native.ARPHRD_ETHER;
        mac.Write(new Span<byte>(req.Address.Data, MacAddress.Length));
        Ioctl(LibC.SIOCSIFHWADDR, "SIOCSIFHWADDR", name, &req);
    }

    /// <summary>The first six octets of the hardware address (all zero for loopback).</summary>
    public static unsafe MacAddress GetMacAddress(string name)
    {
        var req = Request(name);
        Ioctl(LibC.SIOCGIFHWADDR, "SIOCGIFHWADDR", name, &req);
        return MacAddress.Read(new ReadOnlySpan<byte>(req.Address.Data, MacAddress.Length));
    }

    public static unsafe void SetMtu(string name, int mtu)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mtu);
        var req = Request(name);
        req.Value = mtu;
        Ioctl(LibC.SIOCSIFMTU, "SIOCSIFMTU", name, &req);
    }

    public static unsafe int GetMtu(string name)
    {
        var req = Request(name);
        Ioctl(LibC.SIOCGIFMTU, "SIOCGIFMTU", name, &req);
        return req.Value;
    }

    /// <summary>
    /// Sets the interface's primary IPv4 address and prefix. The kernel derives the broadcast
    /// address and, once the interface is up, adds the connected route.
    /// </summary>
    public static unsafe void SetAddress(string name, Ipv4Address address, int prefixLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        using var socket = ControlSocket.Open(name);

        var req = Request(name);
        req.Address = SockAddr.Inet(address);
        socket.Ioctl(LibC.SIOCSIFADDR, "SIOCSIFADDR", name, &req);

        // SIOCSIFADDR gives a classful mask on a fresh address; the netmask ioctl corrects it
        // and moves the connected route and broadcast address with it.
        req = Request(name);
        req.Address = SockAddr.Inet(PrefixToMask(prefixLength));
        socket.Ioctl(LibC.SIOCSIFNETMASK, "SIOCSIFNETMASK", name, &req);
    }

    /// <summary>
    /// Adds 0.0.0.0/0 via <paramref name="gateway"/> (optionally bound to <paramref name="device"/>)
    /// to the main table. When the kernel answers EEXIST the call succeeds only if the existing
    /// default route has the same gateway (and device, when one is given).
    /// </summary>
    public static unsafe void AddDefaultRoute(Ipv4Address gateway, string? device = null)
    {
        if (!Environment.Is64BitProcess)
            throw new PlatformNotSupportedException("SIOCADDRT is implemented for the LP64 struct rtentry layout only.");
        if (device is not null) Native.ValidateInterfaceName(device, nameof(device));
        var target = device is null ? $"default via {gateway}" : $"default via {gateway} dev {device}";

        RtEntry rt = default;
        rt.Destination = SockAddr.Inet(Ipv4Address.Any);
        rt.Genmask = SockAddr.Inet(Ipv4Address.Any);
        rt.Gateway = SockAddr.Inet(gateway);
        rt.Flags = Native.RTF_UP | Native.RTF_GATEWAY;

        byte* dev = stackalloc byte[Native.InterfaceNameSize];
        if (device is not null)
        {
            var span = new Span<byte>(dev, Native.InterfaceNameSize);
            span.Clear();
            System.Text.Encoding.UTF8.GetBytes(device, span);
            rt.Device = dev;
        }

        using var socket = ControlSocket.Open(target);
        if (LibC.ioctl(socket.Fd, LibC.SIOCADDRT, &rt) == 0) return;
        var errno = LibC.errno;
        if (errno == LibC.EEXIST && HasDefaultRoute(gateway, device)) return;
        throw new LinuxNetworkException("SIOCADDRT", target, errno);
    }

    internal static Ipv4Address PrefixToMask(int prefixLength) =>
        new(prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength));

    /// <summary>
    /// Looks for the default route in the calling thread's namespace. /proc/net is the thread
    /// group leader's view, so this reads /proc/thread-self/net/route instead.
    /// Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; addresses are
    /// network-order bytes printed as a little-endian hex word.
    /// </summary>
    internal static bool HasDefaultRoute(Ipv4Address gateway, string? device)
    {
        foreach (var line in File.ReadLines("/proc/thread-self/net/route").Skip(1))
        {
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8) continue;
            if (ParseRouteAddress(f[1]) != Ipv4Address.Any || ParseRouteAddress(f[7]) != Ipv4Address.Any) continue;
            if (ParseRouteAddress(f[2]) != gateway) continue;
            if (device is not null && f[0] != device) continue;
            return true;
        }
        return false;
    }

    private static Ipv4Address ParseRouteAddress(string hex) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(uint.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)));

    private static IfReq Request(string name)
    {
        Native.ValidateInterfaceName(name, nameof(name));
        return Native.NewIfReq(name);
    }

    private static unsafe void Ioctl(int request, string requestName, string name, IfReq* req)
    {
        using var socket = ControlSocket.Open(name);
        socket.Ioctl(request, requestName, name, req);
    }

    /// <summary>The AF_INET/SOCK_DGRAM socket the SIOC* ioctls are issued on; it belongs to the namespace of the thread that opened it.</summary>
    private readonly struct ControlSocket : IDisposable
    {
        private ControlSocket(int fd) => Fd = fd;

        public int Fd { get; }

        public static ControlSocket Open(string target)
        {
            var fd = LibC.socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
            if (fd < 0) throw Native.Error("socket(AF_INET, SOCK_DGRAM) for", target);
            return new ControlSocket(fd);
        }

        public unsafe void Ioctl(int request, string requestName, string name, void* arg)
        {
            if (LibC.ioctl(Fd, request, arg) < 0) throw Native.Error(requestName, name);
        }

        // Linux releases the descriptor even when close reports an error, so there is nothing to retry.
        public void Dispose() => _ = LibC.close(Fd);
    }
}
