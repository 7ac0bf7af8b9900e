using System.Globalization;
using System.Net;

namespace RdNet.Transport.Gateway;

/// <summary>A static forward from <c>--port-forward HostIP:Port=GuestIP:Port</c> (spec §5.10). TCP only, as the original.</summary>
public sealed record PortForwardRule(IPEndPoint Host, IPEndPoint Guest)
{
    public const string ExpectedFormat = "HostIP:Port=GuestIP:Port (literal IPs, IPv6 in brackets, ports 1-65535), e.g. 127.0.0.1:2222=192.168.127.2:22";

    public static bool TryParse(string? text, out PortForwardRule? rule, out string? error)
    {
        rule = null;
        error = null;
        var parts = text?.Split('=') ?? [];
        if (parts.Length != 2)
        {
            error = $"invalid port forward '{text}': expected {ExpectedFormat}";
            return false;
        }
        if (!TryEndpoint(parts[0], out var host) || !TryEndpoint(parts[1], out var guest))
        {
            error = $"invalid port forward '{text}': expected {ExpectedFormat}";
            return false;
        }
        rule = new PortForwardRule(host!, guest!);
        return true;
    }

    public static PortForwardRule Parse(string text) =>
        TryParse(text, out var r, out var e) ? r! : throw new FormatException(e);

    private static bool TryEndpoint(string s, out IPEndPoint? ep)
    {
        ep = null;
        var colon = s.LastIndexOf(':');
        if (colon <= 0) return false;
        var hostPart = s[..colon];
        if (hostPart.Contains(':'))
        {
            // IPv6 must be bracketed so the port is unambiguous.
            if (!(hostPart.StartsWith('[') && hostPart.EndsWith(']'))) return false;
            hostPart = hostPart[1..^1];
        }
        if (!IPAddress.TryParse(hostPart, out var ip)) return false;
        if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && hostPart.Count(c => c == '.') != 3) return false;
        if (!int.TryParse(s[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535) return false;
        ep = new IPEndPoint(ip, port);
        return true;
    }

    public override string ToString() => $"{Host}={Guest}";
}
