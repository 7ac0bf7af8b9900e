using System.CommandLine;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet network-setup</c> (spec §1.3). All flags of the original are accepted and validated; the handshake,
/// namespace and veth work arrives with issue #7, so running it says so and exits non-zero instead of pretending.
/// </summary>
internal static class NetworkSetupCommand
{
    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        debug.Description += " Also passed on to vm-switch.";
        var trace = CommonFlags.TracePackets();
        trace.Description = "Pass --trace-packets to vm-switch.";
        var nsService = new Option<string>("--namespace-service")
        {
            Description = "systemd unit whose MainPID owns the target network namespace (systemd hosts only).",
            DefaultValueFactory = _ => "network-namespace.service",
        };
        var tap = CommonFlags.TapInterface("TAP name passed to vm-switch (default eth0).");
        var subnet = CommonFlags.Subnet("Subnet passed to vm-switch (default 192.168.127.0/24); must match host-switch.");
        var mac = CommonFlags.TapMac("TAP MAC passed to vm-switch (default 5a:94:ef:e4:0c:ee).");
        var dhcpScript = CommonFlags.DhcpScript("udhcpc script passed to vm-switch (always passed, even when empty).");
        var vmSwitchPath = new Option<string>("--vm-switch-path") { Description = "Path of the vm-switch executable to start in the namespace (required)." , Required = true };
        var vmSwitchLog = new Option<string>("--vm-switch-logfile") { Description = "Passed to vm-switch as --logfile when not empty.", DefaultValueFactory = _ => "" };
        var unshareArg = new Option<string>("--unshare-arg") { Description = "The argument given to unshare after --pid --mount-proc --fork --propagation slave (the wsl-init path); required on non-systemd hosts.", DefaultValueFactory = _ => "" };
        var logFile = CommonFlags.LogFile("/var/log/network-setup.log");

        var cmd = new Command("network-setup", "The VM's default namespace: handshake with host-switch, create the namespace and veth pair, start vm-switch (fd 3) and init inside. Not implemented yet (issue #7).")
        {
            debug, trace, nsService, tap, subnet, mac, dhcpScript, vmSwitchPath, vmSwitchLog, unshareArg, logFile,
        };
        cmd.SetAction(_ =>
        {
            Console.Error.WriteLine("network-setup: flags are valid, but the handshake and namespace setup are not implemented yet (issue #7); nothing was changed");
            return 2;
        });
        return cmd;
    }
}
