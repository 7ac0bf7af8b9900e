using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Forwarding;

/// <summary>The protocols a forward can carry (spec §5.8; npipe is Windows-only and not offered here).</summary>
public enum ForwardProtocol
{
    Tcp,
    Udp,
    Unix,
}

/// <summary>How a refused request maps onto the original's status codes (spec §5.8).</summary>
public enum ForwardErrorKind
{
    /// <summary>400: the request itself cannot be understood (remote not host:port, bad JSON).</summary>
    BadRequest,

    /// <summary>500: the forward cannot be installed (unknown protocol, bad local address, duplicate, listen failure, not found).</summary>
    Failed,
}

/// <summary>A refused expose/unexpose: the status it maps to and the plain-text message the API returns.</summary>
public sealed record ForwardError(ForwardErrorKind Kind, string Message);

/// <summary>
/// One validated port forward: where the host listens and where in the guest the traffic goes. Parsed from the API's
/// <c>{"local","remote","protocol"}</c> (spec §5.8) or a <c>--port-forward</c> rule. The table key is
/// <c>"&lt;protocol&gt;/&lt;local&gt;"</c> with <c>local</c> exactly as given, as the original keys it.
/// </summary>
/// <param name="Local">The local address as given (the key and what <c>/all</c> shows).</param>
/// <param name="Listen">tcp/udp: the host address to bind. A wildcard (empty host, 0.0.0.0, ::) is <c>[::]</c> dual-stack, as Go does.</param>
/// <param name="DualStack">Whether <paramref name="Listen"/> is the dual-stack wildcard.</param>
/// <param name="Path">unix: the socket path on the host.</param>
/// <param name="Guest">The guest address connections/datagrams go to (inside the virtual network).</param>
/// <param name="GuestPort">The guest port.</param>
/// <param name="Remote">What <c>/all</c> shows as remote: <c>ip:port</c>, or the <c>tcp://ip:port</c> URI of a unix forward.</param>
public sealed record ForwardSpec(
    ForwardProtocol Protocol,
    string Local,
    IPEndPoint? Listen,
    bool DualStack,
    string? Path,
    Ipv4Address Guest,
    ushort GuestPort,
    string Remote)
{
    public string Key => KeyOf(Protocol, Local);

    public static string ProtocolName(ForwardProtocol p) => p switch
    {
        ForwardProtocol.Tcp => "tcp",
        ForwardProtocol.Udp => "udp",
        _ => "unix",
    };

    public static string KeyOf(ForwardProtocol protocol, string local) => $"{ProtocolName(protocol)}/{local}";

    /// <summary>The protocol field: missing or empty means tcp (spec §5.8); anything else but tcp/udp/unix is an error.</summary>
    public static bool TryParseProtocol(string? text, out ForwardProtocol protocol, out ForwardError? error)
    {
        error = null;
        switch (text)
        {
            case null or "" or "tcp": protocol = ForwardProtocol.Tcp; return true;
            case "udp": protocol = ForwardProtocol.Udp; return true;
            case "unix": protocol = ForwardProtocol.Unix; return true;
            default:
                protocol = default;
                error = new ForwardError(ForwardErrorKind.Failed, $"unknown protocol '{text}': expected tcp, udp or unix");
                return false;
        }
    }

    /// <summary>
    /// Validates an expose request. <paramref name="caller"/> is the guest address of the API client (in-guest API),
    /// substituted for an empty remote host; on the host-side API it is null and an empty host is refused (400).
    /// </summary>
    public static bool TryParse(string? local, string? remote, string? protocol, Ipv4Address? caller, VirtualNetwork network,
        out ForwardSpec? spec, out ForwardError? error)
    {
        spec = null;
        if (!TryParseProtocol(protocol, out var p, out error)) return false;
        local ??= "";
        remote ??= "";
        IPEndPoint? listen = null;
        var dual = false;
        string? path = null;
        string remoteHostPort;
        if (p == ForwardProtocol.Unix)
        {
            if (local.Length == 0 || local.Contains('\0', StringComparison.Ordinal))
                return Fail(ForwardErrorKind.Failed, $"invalid unix local '{local}': expected a socket path such as /tmp/app.sock", out error);
            path = local;
            const string scheme = "tcp://";
            if (!remote.StartsWith(scheme, StringComparison.Ordinal))
                return Fail(ForwardErrorKind.Failed, $"invalid remote '{remote}' for a unix forward: expected tcp://IP:PORT (e.g. tcp://192.168.127.2:8080)", out error);
            remoteHostPort = remote[scheme.Length..].TrimEnd('/');
        }
        else
        {
            if (!TryParseLocal(local, out listen, out dual, out var localError))
                return Fail(ForwardErrorKind.Failed, localError!, out error);
            remoteHostPort = remote;
        }

        // The original first checks that the remote splits as host:port (else 400), then splits it on ':' (IPv4 only;
        // anything else fails there: 500); an empty host means the caller's address.
        if (remoteHostPort.StartsWith('[') && remoteHostPort.Contains("]:", StringComparison.Ordinal))
            return Fail(ForwardErrorKind.Failed, $"invalid remote '{remote}': the host must be an IPv4 address such as {network.Guest}", out error);
        var colon = remoteHostPort.LastIndexOf(':');
        if (colon < 0 || remoteHostPort.IndexOf(':') != colon)
            return Fail(ForwardErrorKind.BadRequest, $"invalid remote '{remote}': expected IPv4:PORT such as 192.168.127.2:8080", out error);
        var hostText = remoteHostPort[..colon];
        if (!TryParsePort(remoteHostPort[(colon + 1)..], out var guestPort))
            return Fail(ForwardErrorKind.Failed, $"invalid remote '{remote}': the port must be a number from 1 to 65535", out error);
        Ipv4Address guest;
        if (hostText.Length == 0)
        {
            if (caller is not { } c)
                return Fail(ForwardErrorKind.BadRequest,
                    $"invalid remote '{remote}': an empty host means the caller's address, which only the in-guest API knows; give the guest address, e.g. {network.Guest}:{guestPort}", out error);
            guest = c;
        }
        else if (!Ipv4Address.TryParse(hostText, out guest))
        {
            return Fail(ForwardErrorKind.Failed, $"invalid remote '{remote}': the host must be an IPv4 address such as {network.Guest}", out error);
        }
        if (!network.IsGuestAddress(guest))
            return Fail(ForwardErrorKind.Failed, $"invalid remote '{remote}': {guest} is not a guest address of the virtual network {network}", out error);

        var shown = $"{guest}:{guestPort}";
        spec = new ForwardSpec(p, local, listen, dual, path, guest, guestPort, p == ForwardProtocol.Unix ? $"tcp://{shown}" : shown);
        return true;
    }

    /// <summary>A static <c>--port-forward</c> rule as a tcp forward (spec §5.10: static forwards are TCP only).</summary>
    public static bool TryFromRule(PortForwardRule rule, VirtualNetwork network, out ForwardSpec? spec, out ForwardError? error)
    {
        var local = rule.Host.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{rule.Host.Address}]:{rule.Host.Port}" : rule.Host.ToString();
        return TryParse(local, rule.Guest.ToString(), "tcp", null, network, out spec, out error);
    }

    /// <summary>
    /// A tcp/udp local address as Go's net.Listen takes it: <c>host:port</c>, <c>:port</c>, <c>[v6]:port</c>; host is a
    /// literal IP or <c>localhost</c>. The wildcard (empty, 0.0.0.0, ::) is one dual-stack socket on <c>[::]</c>.
    /// </summary>
    public static bool TryParseLocal(string local, out IPEndPoint? endpoint, out bool dualStack, out string? error)
    {
        endpoint = null;
        dualStack = false;
        error = null;
        var colon = local.LastIndexOf(':');
        if (colon < 0)
        {
            error = $"invalid local '{local}': expected HOST:PORT such as 127.0.0.1:8080, :8080 or [::1]:8080";
            return false;
        }
        var host = local[..colon];
        if (!TryParsePort(local[(colon + 1)..], out var port))
        {
            error = $"invalid local '{local}': the port must be a number from 1 to 65535";
            return false;
        }
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            error = $"invalid local '{local}': an IPv6 address goes in brackets, e.g. [::1]:{port}";
            return false;
        }
        IPAddress address;
        if (host.Length == 0 || host == "0.0.0.0" || host == "::")
        {
            endpoint = new IPEndPoint(IPAddress.IPv6Any, port);
            dualStack = true;
            return true;
        }
        if (host == "localhost") address = IPAddress.Loopback;
        else if (!IPAddress.TryParse(host, out address!) || (address.AddressFamily == AddressFamily.InterNetwork && host.Count(ch => ch == '.') != 3))
        {
            error = $"invalid local '{local}': the host must be an IP address (or localhost), e.g. 127.0.0.1:{port}";
            return false;
        }
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    private static bool TryParsePort(string text, out ushort port)
    {
        port = 0;
        if (text.Length is 0 or > 5 || !text.All(char.IsAsciiDigit)) return false;
        var n = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        if (n is < 1 or > 65535) return false;
        port = (ushort)n;
        return true;
    }

    private static bool Fail(ForwardErrorKind kind, string message, out ForwardError? error)
    {
        error = new ForwardError(kind, message);
        return false;
    }
}

/// <summary>One row of <c>GET /services/forwarder/all</c>.</summary>
public sealed record ForwardInfo(string Local, string Remote, string Protocol);
