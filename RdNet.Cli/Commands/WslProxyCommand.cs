using System.CommandLine;
using RdNet.Transport.Wire;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet wsl-proxy</c> (spec §1.5). Flags are accepted and validated; the relay arrives with issue #8, so running
/// it says so and exits non-zero instead of pretending.
/// </summary>
internal static class WslProxyCommand
{
    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        var logFile = CommonFlags.LogFile("/var/log/wsl-proxy.log");
        var socketFile = new Option<string>("--socketFile")
        {
            Description = "Unix socket the guest agent writes port mappings to (default /run/wsl-proxy.sock).",
            DefaultValueFactory = _ => "/run/wsl-proxy.sock",
        };
        var upstream = CommonFlags.Validated(new Option<string>("--upstreamAddress")
        {
            Description = "Address connections are relayed to: the namespace end of the veth pair (default 192.168.1.2).",
            DefaultValueFactory = _ => "192.168.1.2",
        }, v => Ipv4Address.TryParse(v, out _) ? null : $"invalid --upstreamAddress '{v}': expected an IPv4 address like 192.168.1.2");
        var udpBuffer = new Option<int>("--udpBuffer")
        {
            Description = "Largest UDP datagram relayed, in bytes (default 8388608).",
            DefaultValueFactory = _ => 8388608,
        };
        udpBuffer.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 64 * 1024 * 1024) r.AddError("--udpBuffer must be 1..67108864 bytes"); });

        var cmd = new Command("wsl-proxy", "The VM's default namespace: port mappings from the guest agent become localhost listeners relayed into the namespace. Not implemented yet (issue #8).")
        {
            debug, logFile, socketFile, upstream, udpBuffer,
        };
        cmd.SetAction(_ =>
        {
            Console.Error.WriteLine("wsl-proxy: flags are valid, but the port-mapping relay is not implemented yet (issue #8); nothing was started");
            return 2;
        });
        return cmd;
    }
}
