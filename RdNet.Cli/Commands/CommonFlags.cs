using System.CommandLine;
using System.CommandLine.Parsing;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;

namespace RdNet.Cli.Commands;

/// <summary>Flag definitions shared by the roles, with the original's spellings and defaults (spec §1.2–1.5).</summary>
internal static class CommonFlags
{
    public static Option<bool> Debug() => new("--debug")
    {
        Description = "Debug logging (both the Serilog and the Akka level).",
    };

    public static Option<string?> LogFile(string? defaultPath) => new("--logfile")
    {
        Description = defaultPath is null
            ? "Also write the log to this file (rolls at 16 MiB). /dev/stdout means the console only."
            : $"Log file (default {defaultPath}; rolls at 16 MiB). /dev/stdout means the console only.",
        DefaultValueFactory = _ => defaultPath,
    };

    public static Option<string> Subnet(string description) => Validated(new Option<string>("--subnet")
    {
        Description = description,
        DefaultValueFactory = _ => VirtualNetwork.DefaultSubnet,
    }, v => VirtualNetwork.TryParse(v, out _, out var e) ? null : e);

    public static Option<string> TapInterface(string description) => Validated(new Option<string>("--tap-interface")
    {
        Description = description,
        DefaultValueFactory = _ => "eth0",
    }, ValidateInterfaceName);

    public static Option<string> TapMac(string description) => Validated(new Option<string>("--tap-mac-address")
    {
        Description = description,
        DefaultValueFactory = _ => VirtualNetwork.DefaultGuestMac.ToString(),
    }, v => MacAddress.TryParse(v, out var m)
        ? (m.IsGroup ? $"--tap-mac-address {v} is a multicast address; expected a unicast MAC like 5a:94:ef:e4:0c:ee" : null)
        : $"invalid --tap-mac-address '{v}': expected six hex octets like 5a:94:ef:e4:0c:ee");

    public static Option<bool> TracePackets() => new("--trace-packets")
    {
        Description = "Log a one-line decode of every switched frame, both directions (opt-in; costs throughput).",
    };

    public static Option<string> DhcpScript(string description) => new("--dhcp-script")
    {
        Description = description,
        DefaultValueFactory = _ => "",
    };

    public static string? ValidateInterfaceName(string? v)
    {
        if (string.IsNullOrEmpty(v) || v.Length > 15 || v is "." or ".." || v.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c)))
            return $"invalid interface name '{v}': expected 1-15 characters without '/', ':' or spaces, like eth0";
        return null;
    }

    public static string? ValidateEndpoint(string? v) => LinkEndpoint.TryParse(v, out _, out var e) ? null : e;

    public static Option<T> Validated<T>(Option<T> option, Func<T, string?> check)
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (check(value) is { } error) result.AddError(error);
        });
        return option;
    }

    public static Option<string[]> ValidatedEach(Option<string[]> option, Func<string, string?> check)
    {
        option.Validators.Add(result =>
        {
            foreach (var v in result.GetValueOrDefault<string[]>() ?? [])
                if (check(v) is { } error) result.AddError(error);
        });
        return option;
    }
}
