using System.Globalization;
using System.Net;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>
/// What the host's resolver configuration (<c>/etc/resolv.conf</c>, resolv.conf(5)) says about where to send
/// queries: up to three <c>nameserver</c> lines, and <c>options timeout:n attempts:n</c> (defaults 5 s and 2, capped
/// at 30 s and 5 as glibc does). With no nameserver line, the local machine's server (127.0.0.1) is used, as the man
/// page says. Comments start with '#' or ';'.
/// </summary>
public sealed record ResolvConf(IReadOnlyList<IPEndPoint> Nameservers, TimeSpan Timeout, int Attempts, IReadOnlyList<string> Search)
{
    public const int MaxNameservers = 3;
    public const int DefaultTimeoutSeconds = 5, MaxTimeoutSeconds = 30;
    public const int DefaultAttempts = 2, MaxAttempts = 5;
    public const int Port = 53;

    public static ResolvConf Parse(string text)
    {
        var servers = new List<IPEndPoint>();
        var timeout = DefaultTimeoutSeconds;
        var attempts = DefaultAttempts;
        IReadOnlyList<string> search = [];
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            switch (words[0])
            {
                case "nameserver" when words.Length >= 2:
                    if (servers.Count < MaxNameservers && IPAddress.TryParse(words[1], out var ip))
                        servers.Add(new IPEndPoint(ip, Port));
                    break;
                case "search":
                    search = words[1..];
                    break;
                case "domain" when words.Length >= 2:
                    search = [words[1]];
                    break;
                case "options":
                    foreach (var opt in words[1..])
                    {
                        if (TryOption(opt, "timeout:", out var t)) timeout = Math.Clamp(t, 1, MaxTimeoutSeconds);
                        else if (TryOption(opt, "attempts:", out var a)) attempts = Math.Clamp(a, 1, MaxAttempts);
                    }
                    break;
            }
        }
        if (servers.Count == 0) servers.Add(new IPEndPoint(IPAddress.Loopback, Port));
        return new ResolvConf(servers, TimeSpan.FromSeconds(timeout), attempts, search);
    }

    private static bool TryOption(string opt, string prefix, out int value)
    {
        value = 0;
        return opt.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(opt.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
