using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace RdNet.Transport.Links;

public enum LinkScheme { Unix, Tcp, Vsock, Fd, HvSock }

/// <summary>
/// Where a stream link goes, written as a URI: <c>unix:///run/x.sock</c>, <c>tcp://127.0.0.1:7000</c>,
/// <c>vsock://2:6656</c> (cid may be <c>any</c> or <c>host</c>), <c>fd://3</c>, and on Windows
/// <c>hvsock://VMID:PORT</c> (a Hyper-V socket to a Linux guest's vsock port; VMID a GUID or <c>any</c>).
/// </summary>
public sealed record LinkEndpoint(LinkScheme Scheme, string Path, IPAddress? Address, uint Cid, int Port, Guid VmId = default)
{
    public const string ExpectedFormat = "unix:///path/to.sock, tcp://IP:PORT, vsock://CID:PORT (CID a number, 'any' or 'host'), fd://N or hvsock://VMID:PORT (Windows; VMID a GUID or 'any')";

    public static bool TryParse(string? text, out LinkEndpoint? endpoint, out string? error)
    {
        endpoint = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"empty link endpoint; expected {ExpectedFormat}";
            return false;
        }
        var sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0)
        {
            error = $"'{text}' is not a link endpoint; expected {ExpectedFormat}";
            return false;
        }
        var scheme = text[..sep].ToLowerInvariant();
        var rest = text[(sep + 3)..];
        switch (scheme)
        {
            case "unix":
                if (!UnixSocketEndpoint.TryParse(text, out var path, out error)) return false;
                endpoint = new LinkEndpoint(LinkScheme.Unix, path, null, 0, 0);
                return true;
            case "tcp":
                {
                    var colon = rest.LastIndexOf(':');
                    if (colon <= 0 || !TryPort(rest[(colon + 1)..], out var port))
                    {
                        error = $"'{text}': expected tcp://IP:PORT with a port 1-65535";
                        return false;
                    }
                    var host = rest[..colon].Trim('[', ']');
                    if (!IPAddress.TryParse(host, out var ip))
                    {
                        error = $"'{text}': expected a literal IP address in tcp://IP:PORT";
                        return false;
                    }
                    endpoint = new LinkEndpoint(LinkScheme.Tcp, "", ip, 0, port);
                    return true;
                }
            case "vsock":
                {
                    var colon = rest.LastIndexOf(':');
                    if (colon <= 0 || !TryPort(rest[(colon + 1)..], out var port))
                    {
                        error = $"'{text}': expected vsock://CID:PORT with a port 1-65535";
                        return false;
                    }
                    var cidText = rest[..colon];
                    uint cid;
                    if (cidText.Equals("any", StringComparison.OrdinalIgnoreCase)) cid = VsockEndPoint.CidAny;
                    else if (cidText.Equals("host", StringComparison.OrdinalIgnoreCase)) cid = VsockEndPoint.CidHost;
                    else if (!uint.TryParse(cidText, NumberStyles.None, CultureInfo.InvariantCulture, out cid))
                    {
                        error = $"'{text}': the vsock CID must be a number, 'any' or 'host'";
                        return false;
                    }
                    endpoint = new LinkEndpoint(LinkScheme.Vsock, "", null, cid, port);
                    return true;
                }
            case "hvsock":
                {
                    var colon = rest.LastIndexOf(':');
                    if (colon <= 0 || !TryPort(rest[(colon + 1)..], out var port))
                    {
                        error = $"'{text}': expected hvsock://VMID:PORT with a port 1-65535";
                        return false;
                    }
                    var vm = rest[..colon];
                    Guid vmId;
                    if (vm.Equals("any", StringComparison.OrdinalIgnoreCase)) vmId = HvSocketEndPoint.Wildcard;
                    else if (!Guid.TryParse(vm, out vmId))
                    {
                        error = $"'{text}': the Hyper-V VM id must be a GUID or 'any'";
                        return false;
                    }
                    endpoint = new LinkEndpoint(LinkScheme.HvSock, "", null, 0, port, vmId);
                    return true;
                }
            case "fd":
                if (!int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var fd) || fd < 0)
                {
                    error = $"'{text}': expected fd://N with a non-negative descriptor number";
                    return false;
                }
                endpoint = new LinkEndpoint(LinkScheme.Fd, "", null, 0, fd);
                return true;
            default:
                error = $"'{text}': unknown scheme '{scheme}'; expected {ExpectedFormat}";
                return false;
        }
    }

    public static LinkEndpoint Parse(string text) =>
        TryParse(text, out var e, out var err) ? e! : throw new FormatException(err);

    private static bool TryPort(string s, out int port) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;

    /// <summary>True where losing the link can be repaired by dialling again (an inherited fd cannot).</summary>
    public bool CanRedial => Scheme != LinkScheme.Fd;

    public EndPoint ToEndPoint() => Scheme switch
    {
        LinkScheme.Unix => new UnixDomainSocketEndPoint(Path),
        LinkScheme.Tcp => new IPEndPoint(Address!, Port),
        LinkScheme.Vsock => new VsockEndPoint(Cid, (uint)Port),
        LinkScheme.HvSock => new HvSocketEndPoint(VmId, HvSocketEndPoint.ServiceIdForVsockPort((uint)Port)),
        _ => throw new InvalidOperationException($"{this} has no socket address"),
    };

    /// <summary>Connects (or, for fd://N, adopts the inherited descriptor).</summary>
    public async Task<Socket> ConnectAsync(CancellationToken ct)
    {
        if (Scheme == LinkScheme.Fd) return AdoptDescriptor(Port);
        var socket = CreateSocket();
        try
        {
            if (OperatingSystem.IsWindows())
                await socket.ConnectAsync(ToEndPoint(), ct).ConfigureAwait(false);
            else
                await ConnectOutsideTheSocketEngineAsync(socket, ct).ConfigureAwait(false);
            if (Scheme == LinkScheme.Tcp) socket.NoDelay = true;
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Off Windows a link's socket stays out of .NET's socket engine (see <see cref="StreamLink"/>): an asynchronous
    /// connect that has to wait (vsock, TCP) would register the socket there for good. So the connect is started
    /// non-blocking and its completion waited for with poll, in short waits that notice a cancellation
    /// (<see cref="OperationCanceledException"/>); a unix listener with a full backlog is tried again every 10 ms.
    /// </summary>
    private async Task ConnectOutsideTheSocketEngineAsync(Socket socket, CancellationToken ct)
    {
        var endPoint = ToEndPoint();
        socket.Blocking = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                socket.Connect(endPoint);
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                await Task.Delay(10, ct).ConfigureAwait(false); // EAGAIN: the unix listener's backlog is full
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.InProgress)
            {
                break;
            }
        }
        await Task.Run(() =>
        {
            while (!socket.Poll(50_000, SelectMode.SelectWrite)) ct.ThrowIfCancellationRequested();
        }, CancellationToken.None).ConfigureAwait(false);
        var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        if (error != SocketError.Success) throw new SocketException((int)error);
    }

    /// <summary>Binds and listens. A stale unix socket file (nobody accepting on it) is removed first.</summary>
    public Socket Listen(int backlog = 16)
    {
        if (Scheme == LinkScheme.Fd) throw new InvalidOperationException("fd:// endpoints cannot listen");
        if (Scheme == LinkScheme.Unix) RemoveStaleUnixSocket(Path);
        var socket = CreateSocket();
        try
        {
            if (Scheme == LinkScheme.Tcp) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(ToEndPoint());
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Socket CreateSocket() => Scheme switch
    {
        LinkScheme.Unix => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
        LinkScheme.Tcp => new Socket(Address!.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
        LinkScheme.Vsock => CreateVsockSocket(),
        LinkScheme.HvSock => CreateHyperVSocket(),
        _ => throw new InvalidOperationException(),
    };

    private static Socket CreateVsockSocket()
    {
        // .NET refuses AF_VSOCK in its own constructor; a libc socket wrapped in a SafeSocketHandle works.
        var fd = Native.socket(VsockEndPoint.AfVsock, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new SocketException(errno == Native.EAFNOSUPPORT ? (int)SocketError.AddressFamilyNotSupported : (int)SocketError.SocketError);
        }
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    private static Socket CreateHyperVSocket()
    {
        // AF_HYPERV with HV_PROTOCOL_RAW; .NET passes the family through on Windows (notes/dotnet-platform.md §3).
        if (!OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("hvsock:// endpoints are Hyper-V sockets and exist on Windows only; use vsock://, unix:// or tcp:// here");
        return new Socket((AddressFamily)HvSocketEndPoint.AfHyperV, SocketType.Stream, (ProtocolType)HvSocketEndPoint.HvProtocolRaw);
    }

    /// <summary>Wraps an inherited descriptor (spec §3.4: the data link arrives as fd 3).</summary>
    public static Socket AdoptDescriptor(int fd)
    {
        if (Native.fcntl(fd, Native.F_GETFD, 0) < 0)
            throw new IOException($"fd://{fd}: no such open descriptor was inherited (errno {Marshal.GetLastPInvokeError()})");
        // Keep it from leaking into our own children (udhcpc).
        _ = Native.fcntl(fd, Native.F_SETFD, Native.FD_CLOEXEC);
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    /// <summary>Removes a unix socket file nobody answers on (a stale one); throws <see cref="IOException"/> when a listener answers.</summary>
    public static void RemoveStaleUnixSocket(string path)
    {
        if (!File.Exists(path)) return;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path);
            return;
        }
        throw new IOException($"{path} is in use by another listener");
    }

    public override string ToString() => Scheme switch
    {
        LinkScheme.Unix => $"unix://{Path}",
        LinkScheme.Tcp => Address!.AddressFamily == AddressFamily.InterNetworkV6 ? $"tcp://[{Address}]:{Port}" : $"tcp://{Address}:{Port}",
        LinkScheme.Vsock => new VsockEndPoint(Cid, (uint)Port).ToString(),
        LinkScheme.HvSock => $"hvsock://{(VmId == HvSocketEndPoint.Wildcard ? "any" : VmId.ToString())}:{Port}",
        _ => $"fd://{Port}",
    };
}

internal static partial class Native
{
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int EAFNOSUPPORT = 97;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);
}
