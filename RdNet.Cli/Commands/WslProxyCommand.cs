using System.CommandLine;
using System.Net.Sockets;
using RdNet.Actors.WslProxy;
using RdNet.Cli.Hosting;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using RdNet.Transport.Wire;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet wsl-proxy</c> (spec §1.5, §6): in the VM's default namespace, port mappings written by the guest agent
/// to --socketFile become listeners relayed to --upstreamAddress (TCP with half-close, UDP both ways).
/// </summary>
internal static class WslProxyCommand
{
    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        var logFile = CommonFlags.LogFile("/var/log/wsl-proxy.log");
        var socketFile = new Option<string>("--socketFile")
        {
            Description = "Unix socket the guest agent writes port mappings to (default /run/wsl-proxy.sock; created 0600, a stale one replaced).",
            DefaultValueFactory = _ => "/run/wsl-proxy.sock",
        };
        var upstream = CommonFlags.Validated(new Option<string>("--upstreamAddress")
        {
            Description = "Address connections are relayed to: the namespace end of the veth pair (default 192.168.1.2).",
            DefaultValueFactory = _ => "192.168.1.2",
        }, v => Ipv4Address.TryParse(v, out _) ? null : $"invalid --upstreamAddress '{v}': expected an IPv4 address like 192.168.1.2");
        var udpBuffer = new Option<int>("--udpBuffer")
        {
            Description = "Receive buffer for one UDP datagram, in bytes (default 8388608; capped at 65536, the largest datagram).",
            DefaultValueFactory = _ => 8388608,
        };
        udpBuffer.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 64 * 1024 * 1024) r.AddError("--udpBuffer must be 1..67108864 bytes"); });

        var cmd = new Command("wsl-proxy", "The VM's default namespace: port mappings from the guest agent become localhost listeners relayed into the namespace.")
        {
            debug, logFile, socketFile, upstream, udpBuffer,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var common = new CommonOptions(parse.GetValue(debug), parse.GetValue(logFile));
            var path = parse.GetValue(socketFile)!;
            var upstreamAddress = Ipv4Address.Parse(parse.GetValue(upstream)!).ToIPAddress();
            WslProxySettings? settings = null;
            Socket? control = null;
            try
            {
                return await RoleHost.RunAsync("wsl-proxy", common, (system, _, _) =>
                {
                    var config = new WslProxyConfig(settings!, upstreamAddress, parse.GetValue(udpBuffer), path, control, new DropCounters());
                    WslProxyRole.Start(system, config, Serilog.Log.Information);
                }, ct, beforeStart: _ =>
                {
                    try
                    {
                        settings = WslProxySettings.FromConfig(HoconFiles.Load());
                    }
                    catch (Akka.Configuration.ConfigurationException e)
                    {
                        throw new FatalSetupException(e.Message);
                    }
                    try
                    {
                        control = ControlSocket.Bind(path, settings.ListenBacklog);
                    }
                    catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
                    {
                        throw new FatalSetupException($"cannot listen on the control socket {path}: {e.Message}");
                    }
                    return Task.CompletedTask;
                }).ConfigureAwait(false);
            }
            finally
            {
                // Normally the control listener already closed and removed it; this covers a start-up that failed after binding.
                if (control is not null)
                {
                    control.Dispose();
                    ControlSocket.Remove(path);
                }
            }
        });
        return cmd;
    }
}
