using System.CommandLine;
using System.Globalization;
using RdNet.Actors.Handshake;
using RdNet.Actors.Links;
using RdNet.Actors.NetworkSetup;
using RdNet.Cli.Hosting;
using RdNet.Transport.Buffers;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using RdNet.Transport.Wire;
using Serilog;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet network-setup</c> (spec §1.3, §2, §3.4–3.6): answers host-switch's handshake, then creates the namespace and
/// veth pair, starts init and vm-switch (fd 3) inside, and keeps vm-switch connected across re-handshakes.
/// </summary>
internal static class NetworkSetupCommand
{
    public const string DefaultHandshakeListen = "vsock://any:6669";
    public const string DefaultHostData = "vsock://2:6656";
    public const string DefaultNamespace = "rancher-desktop";

    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        debug.Description += " Also passed on to vm-switch.";
        var trace = CommonFlags.TracePackets();
        trace.Description = "Pass --trace-packets to vm-switch.";
        var nsService = new Option<string>("--namespace-service")
        {
            Description = "systemd unit whose MainPID owns the target network namespace (systemd hosts only; not supported yet: the namespace is created as on OpenRC).",
            DefaultValueFactory = _ => "network-namespace.service",
        };
        var tap = CommonFlags.TapInterface("TAP name passed to vm-switch (default eth0).");
        var subnet = CommonFlags.Subnet("Subnet passed to vm-switch (default 192.168.127.0/24); must match host-switch.");
        var mac = CommonFlags.TapMac("TAP MAC passed to vm-switch (default 5a:94:ef:e4:0c:ee).");
        var dhcpScript = CommonFlags.DhcpScript("udhcpc script passed to vm-switch (always passed, even when empty).");
        var vmSwitchPath = new Option<string>("--vm-switch-path") { Description = "Path of the vm-switch executable to start in the namespace (required).", Required = true };
        var vmSwitchLog = new Option<string>("--vm-switch-logfile") { Description = "Passed to vm-switch as --logfile when not empty.", DefaultValueFactory = _ => "" };
        var unshareArg = new Option<string>("--unshare-arg") { Description = "The argument given to unshare after --pid --mount-proc --fork --propagation slave (the wsl-init path), run inside the namespace; its pid goes to --pid-file. Empty: no init is started.", DefaultValueFactory = _ => "" };
        var logFile = CommonFlags.LogFile("/var/log/network-setup.log");

        var handshakeListen = CommonFlags.Validated(new Option<string>("--handshake-listen")
        {
            Description = $"Where host-switch's handshake is answered (default {DefaultHandshakeListen}, as the original): vsock://any:PORT, unix:///path or tcp://IP:PORT.",
            DefaultValueFactory = _ => DefaultHandshakeListen,
        }, v => CommonFlags.ValidateEndpoint(v) ?? (v.StartsWith("fd:", StringComparison.Ordinal) ? $"'{v}': the handshake endpoint must be listenable, not a descriptor" : null));
        var hostData = CommonFlags.Validated(new Option<string>("--host-data")
        {
            Description = $"Where the data connection is dialled after READY (default {DefaultHostData}: the host, CID 2).",
            DefaultValueFactory = _ => DefaultHostData,
        }, v => CommonFlags.ValidateEndpoint(v) ?? (v.StartsWith("fd:", StringComparison.Ordinal) ? $"'{v}': the data endpoint must be dialable, not a descriptor" : null));
        var signature = CommonFlags.Validated(new Option<string>("--handshake-signature")
        {
            Description = "Which phrase is written to host-switch: current (60 bytes, the merged project's, default) or original (53 bytes, the standalone project's).",
            DefaultValueFactory = _ => "current",
        }, v => HandshakeSignature.TryParseKind(v, out _) ? null : $"invalid --handshake-signature '{v}': expected current or original");
        var netns = CommonFlags.Validated(new Option<string>("--netns-name")
        {
            Description = $"Name of the network namespace created for vm-switch and init (ip netns add semantics, /run/netns/NAME; default {DefaultNamespace}). A stale one of that name is removed first.",
            DefaultValueFactory = _ => DefaultNamespace,
        }, v => string.IsNullOrEmpty(v) || v.Length > 64 || v is "." or ".." || v.Any(c => c == '/' || char.IsWhiteSpace(c))
            ? $"invalid --netns-name '{v}': expected a plain name of 1-64 characters without '/' or spaces" : null);
        var vethHost = CommonFlags.Validated(new Option<string>("--veth-host-name")
        {
            Description = "veth end in this (the VM's default) namespace (default veth-rd0; current Rancher Desktop uses veth-rd-wsl). A stale one is removed at start.",
            DefaultValueFactory = _ => VethSettings.Default.HostName,
        }, CommonFlags.ValidateInterfaceName);
        var vethHostAddress = CommonFlags.Validated(new Option<string>("--veth-host-address")
        {
            Description = "Address of the veth end in this namespace (default 192.168.1.1/24; current Rancher Desktop: 192.168.143.2/24).",
            DefaultValueFactory = _ => "192.168.1.1/24",
        }, v => ValidateCidr("--veth-host-address", v));
        var vethNs = CommonFlags.Validated(new Option<string>("--veth-ns-name")
        {
            Description = "veth end inside the new namespace (default veth-rd1; current Rancher Desktop uses veth-rd-ns).",
            DefaultValueFactory = _ => VethSettings.Default.NamespaceName,
        }, CommonFlags.ValidateInterfaceName);
        var vethNsAddress = CommonFlags.Validated(new Option<string>("--veth-ns-address")
        {
            Description = "Address of the veth end inside the namespace (default 192.168.1.2/24; current Rancher Desktop: 192.168.143.1/24).",
            DefaultValueFactory = _ => "192.168.1.2/24",
        }, v => ValidateCidr("--veth-ns-address", v));
        var pidFile = new Option<string>("--pid-file")
        {
            Description = "Where init's pid (unshare's) is written once the namespace is up (default /run/wsl-init.pid, which Rancher Desktop polls).",
            DefaultValueFactory = _ => "/run/wsl-init.pid",
        };

        var cmd = new Command("network-setup", "The VM's default namespace: handshake with host-switch, create the namespace and veth pair, start vm-switch (fd 3) and init inside.")
        {
            debug, trace, nsService, tap, subnet, mac, dhcpScript, vmSwitchPath, vmSwitchLog, unshareArg, logFile,
            handshakeListen, hostData, signature, netns, vethHost, vethHostAddress, vethNs, vethNsAddress, pidFile,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var common = new CommonOptions(parse.GetValue(debug), parse.GetValue(logFile));
            _ = TryCidr(parse.GetValue(vethHostAddress), out var hostAddr, out var prefix); // each validated above
            _ = TryCidr(parse.GetValue(vethNsAddress), out var nsAddr, out var nsPrefix);
            if (VethConflict(parse.GetValue(vethHost)!, parse.GetValue(vethNs)!, hostAddr, prefix, nsAddr, nsPrefix) is { } conflict)
            {
                await Console.Error.WriteLineAsync($"network-setup: {conflict}").ConfigureAwait(false);
                return 1;
            }
            var veth = new VethSettings(parse.GetValue(vethHost)!, hostAddr, parse.GetValue(vethNs)!, nsAddr, prefix);
            _ = HandshakeSignature.TryParseKind(parse.GetValue(signature), out var phrase); // validated above
            var hsEndpoint = LinkEndpoint.Parse(parse.GetValue(handshakeListen)!);
            var dataEndpoint = LinkEndpoint.Parse(parse.GetValue(hostData)!);
            var vmSwitch = parse.GetValue(vmSwitchPath)!;
            var vmArgs = new List<string>
            {
                "-tap-interface", parse.GetValue(tap)!,
                "-subnet", parse.GetValue(subnet)!,
                "-tap-mac-address", parse.GetValue(mac)!,
                "-dhcp-script=" + parse.GetValue(dhcpScript),
            };
            if (parse.GetValue(vmSwitchLog) is { Length: > 0 } vmLog) vmArgs.Add("-logfile=" + vmLog);
            if (common.Debug) vmArgs.Add("-debug");
            if (parse.GetValue(trace)) vmArgs.Add("-trace-packets");

            LinkListenerActor.PreBound? bound = null;
            NetworkSetupResources? resources = null;
            try
            {
                return await RoleHost.RunAsync("network-setup", common, (system, settings, exit) =>
                {
                    settings = settings.ForGuestSide();
                    var pool = settings.CreatePool();
                    var hs = HandshakeSettings.FromConfig(system.Settings.Config);
                    var config = new NetworkSetupConfig(
                        new GuestHandshakeConfig(hsEndpoint, dataEndpoint, phrase, hs), bound, parse.GetValue(netns)!, veth,
                        vmSwitch, vmArgs, parse.GetValue(unshareArg), parse.GetValue(pidFile)!,
                        NetworkSetupSettings.FromConfig(system.Settings.Config), settings.Link);
                    system.ActorOf(NetworkSetupActor.Props(config, pool, exit, resources!), "network-setup");
                }, ct, beforeStart: _ =>
                {
                    if (!OperatingSystem.IsLinux()) throw new FatalSetupException("network-setup runs inside the Linux VM only");
                    if (!File.Exists(vmSwitch))
                        throw new FatalSetupException($"--vm-switch-path {vmSwitch}: no such file");
                    if ((File.GetUnixFileMode(vmSwitch) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
                        throw new FatalSetupException($"--vm-switch-path {vmSwitch}: not executable");
                    if (Environment.GetEnvironmentVariable("SYSTEMD_EXEC_PID") is { Length: > 0 })
                        Log.Warning("Started by systemd: the systemd path (--namespace-service {Unit}) is not implemented; creating namespace {Namespace} as on OpenRC", parse.GetValue(nsService), parse.GetValue(netns));
                    var hocon = HoconFiles.Load();
                    resources = new NetworkSetupResources(new GuestPlumbing(NetworkSetupSettings.FromConfig(hocon).CommandTimeout), NetworkSetupSettings.FromConfig(hocon).StopGrace);
                    try
                    {
                        // Current original, step 0: a veth left by a previous run goes first.
                        if (resources.Plumbing.InterfaceExists(veth.HostName))
                        {
                            resources.Plumbing.DeleteInterface(veth.HostName);
                            Log.Warning("Removed a stale {Veth} left by a previous run", veth.HostName);
                        }
                    }
                    catch (SetupCommandException e)
                    {
                        throw new FatalSetupException($"cannot remove the stale {veth.HostName}: {e.Message}");
                    }
                    try
                    {
                        if (hsEndpoint.Scheme == LinkScheme.Unix && Path.GetDirectoryName(hsEndpoint.Path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
                        bound = new LinkListenerActor.PreBound(hsEndpoint.Listen());
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
                    {
                        throw new FatalSetupException($"cannot listen for the handshake on {hsEndpoint}: {e.Message}");
                    }
                    return Task.CompletedTask;
                }).ConfigureAwait(false);
            }
            finally
            {
                resources?.Cleanup();
            }
        });
        return cmd;
    }

    private static string? VethConflict(string hostName, string nsName, Ipv4Address a, int pa, Ipv4Address b, int pb)
    {
        if (hostName == nsName) return "--veth-host-name and --veth-ns-name must differ";
        if (pa != pb) return "--veth-host-address and --veth-ns-address need the same prefix length, e.g. 192.168.1.1/24 and 192.168.1.2/24";
        if (a == b) return "--veth-host-address and --veth-ns-address must differ";
        if ((a.Value ^ b.Value) >> (32 - pa) != 0) return "--veth-host-address and --veth-ns-address must be in the same subnet, e.g. 192.168.1.1/24 and 192.168.1.2/24";
        return null;
    }

    private static string? ValidateCidr(string flag, string? v) =>
        TryCidr(v, out _, out _) ? null : $"invalid {flag} '{v}': expected an IPv4 address with a prefix length 1-30, like 192.168.1.1/24";

    private static bool TryCidr(string? v, out Ipv4Address address, out int prefix)
    {
        address = default;
        prefix = 0;
        var slash = v?.IndexOf('/') ?? -1;
        return slash > 0
            && Ipv4Address.TryParse(v![..slash], out address)
            && int.TryParse(v[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix)
            && prefix is >= 1 and <= 30;
    }
}
