using System.CommandLine;
using RdNet.Transport.Diagnostics;
using RdNet.Actors.Roles;
using RdNet.Cli.Hosting;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using RdNet.Transport.Wire;
using Serilog;

namespace RdNet.Cli.Commands;

/// <summary><c>rdnet vm-switch</c>: tap eth0 ⇄ the host link, and the DHCP client (spec §1.4, §3.3).</summary>
internal static class VmSwitchCommand
{
    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        var trace = CommonFlags.TracePackets();
        trace.Description += " SIGUSR1 turns it on or off while running.";
        var tapInterface = CommonFlags.TapInterface("Name of the TAP device to create (default eth0). vm-switch refuses to start if it already exists.");
        var vsockFd = new Option<int>("--vsock-fd")
        {
            Description = "Inherited file descriptor carrying the data link to host-switch (default 3, as network-setup passes it).",
            DefaultValueFactory = _ => 3,
        };
        vsockFd.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--vsock-fd must be a non-negative descriptor number"); });
        var connect = CommonFlags.Validated(new Option<string?>("--connect")
        {
            Description = "Dial host-switch at this URI instead of using --vsock-fd: unix:///path, tcp://IP:PORT or vsock://CID:PORT. A dialled link that drops is dialled again.",
        }, v => v is null ? null : CommonFlags.ValidateEndpoint(v));
        var dhcpScript = CommonFlags.DhcpScript("Script given to udhcpc as -s (default: udhcpc's own).");
        var mac = CommonFlags.TapMac("MAC address of the TAP (default 5a:94:ef:e4:0c:ee; the DHCP server's static lease .2 is bound to it).");
        var subnet = CommonFlags.Subnet("Virtual subnet; validated, otherwise unused here (as the original): the address comes from DHCP.");
        var logFile = CommonFlags.LogFile("/var/log/vm-switch.log");

        var cmd = new Command("vm-switch", "The guest side, inside the VM's network namespace: creates TAP eth0, bridges it to host-switch and runs udhcpc on it.")
        {
            debug, trace, tapInterface, vsockFd, connect, dhcpScript, mac, subnet, logFile,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var common = new CommonOptions(parse.GetValue(debug), parse.GetValue(logFile));
            var name = parse.GetValue(tapInterface)!;
            var tapMac = MacAddress.Parse(parse.GetValue(mac)!);
            var endpoint = parse.GetValue(connect) is { } uri ? LinkEndpoint.Parse(uri) : new LinkEndpoint(LinkScheme.Fd, "", null, 0, parse.GetValue(vsockFd));
            var script = parse.GetValue(dhcpScript);
            TapDevice? tap = null;
            var packetTrace = new PacketTrace(parse.GetValue(trace));
            using var onUsr1 = TraceSignal.Register(packetTrace, "vm-switch");
            try
            {
                return await RoleHost.RunAsync("vm-switch", common, (system, settings, exit) =>
                {
                    settings = settings.ForGuestSide();
                    var pool = settings.CreatePool();
                    system.ActorOf(VmSwitchActor.Props(new VmSwitchConfig(endpoint, tap!, script, settings, RunDhcpClient: true, LogTraffic: common.Debug, Trace: packetTrace), pool, exit), "vm-switch");
                }, ct, beforeStart: settings =>
                {
                    tap = CreateTap(name, tapMac, settings.TapCoalesce);
                    return Task.CompletedTask;
                }).ConfigureAwait(false);
            }
            finally
            {
                tap?.Dispose();
            }
        });
        return cmd;
    }

    private static TapDevice CreateTap(string name, MacAddress mac, bool coalesce)
    {
        try
        {
            if (NetInterface.Exists(name))
                throw new FatalSetupException($"interface {name} already exists in this network namespace; refusing to start (spec §3.3)");
            var tap = TapDevice.Create(name, virtioNetHeader: coalesce);
            try
            {
                NetInterface.SetMacAddress(name, mac);
                NetInterface.SetUp(name);
                NetInterface.SetUp("lo");
            }
            catch
            {
                tap.Dispose();
                throw;
            }
            Log.Information("Created TAP {Tap} with MAC {Mac}; lo is up", name, mac);
            return tap;
        }
        catch (LinuxNetworkException e)
        {
            throw new FatalSetupException($"cannot set up the TAP device {name}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FatalSetupException($"cannot set up the TAP device {name}: {e.Message}");
        }
    }
}
