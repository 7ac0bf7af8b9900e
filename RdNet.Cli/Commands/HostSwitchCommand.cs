using System.CommandLine;
using RdNet.Actors.Handshake;
using RdNet.Actors.Links;
using RdNet.Actors.Roles;
using RdNet.Cli.Hosting;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;
using Serilog;

namespace RdNet.Cli.Commands;

/// <summary><c>rdnet host-switch</c>: the switch, gateway (ARP, ICMP, DHCP) and the data-link listeners.</summary>
internal static class HostSwitchCommand
{
    public const string DefaultListen = "unix:///run/rdnet/host-switch.sock";
    private const int MinMtu = 576;

    // The 2-byte frame length prefix carries up to 65535 bytes: 65520 + 14 (Ethernet header) fits with room to spare.
    private const int MaxMtu = 65520;

    public static Command Create()
    {
        var debug = CommonFlags.Debug();
        debug.Description += " Also captures every switched frame to capture.pcap in the working directory (as the original) unless --pcap says otherwise, and logs traffic counters every 5 s.";
        var subnet = CommonFlags.Subnet("Virtual subnet (default 192.168.127.0/24). The first three octets give the gateway .1, the guest's static lease .2 and the host alias .254; the prefix gives the DHCP mask and pool. Must match vm-switch and network-setup.");
        var portForward = CommonFlags.ValidatedEach(new Option<string[]>("--port-forward")
        {
            Description = "Static TCP forward HostIP:Port=GuestIP:Port (repeatable), e.g. 127.0.0.1:2222=192.168.127.2:22, installed at start (a later rule with the same left side wins).",
            DefaultValueFactory = _ => [],
        }, v => PortForwardRule.TryParse(v, out _, out var e) ? null : e);
        var listen = CommonFlags.ValidatedEach(new Option<string[]>("--listen")
        {
            Description = $"Accept vm-switch data links here (repeatable): unix:///path, tcp://IP:PORT or vsock://any:PORT. Default {DefaultListen}.",
            DefaultValueFactory = _ => [DefaultListen],
        }, v => CommonFlags.ValidateEndpoint(v) ?? (v.StartsWith("fd:", StringComparison.Ordinal) ? $"'{v}': host-switch cannot listen on a descriptor" : null));
        var searchDomains = new Option<string[]>("--search-domain")
        {
            Description = "DHCP domain search list entry (option 119), repeatable. Default: the 'search' line of /etc/resolv.conf, as the original does on Linux.",
        };
        var vmHandshake = CommonFlags.Validated(new Option<string?>("--vm-handshake")
        {
            Description = "Do the handshake with network-setup (spec §2): probe this endpoint for its phrase and write READY to it, e.g. vsock://3:6669 or unix:///path. Needs --vm-data-listen. The data link is attached to the switch; when it drops the handshake is done again.",
        }, v => v is null ? null : CommonFlags.ValidateEndpoint(v) ?? (v.StartsWith("fd:", StringComparison.Ordinal) ? $"'{v}': the handshake needs a dialable endpoint, not a descriptor" : null));
        var vmDataListen = CommonFlags.Validated(new Option<string?>("--vm-data-listen")
        {
            Description = "Where network-setup's data connection is accepted after READY, e.g. vsock://any:6656 or unix:///path. Needs --vm-handshake.",
        }, v => v is null ? null : CommonFlags.ValidateEndpoint(v) ?? (v.StartsWith("fd:", StringComparison.Ordinal) ? $"'{v}': host-switch cannot listen on a descriptor" : null));
        var dnsUpstream = CommonFlags.ValidatedEach(new Option<string[]>("--dns-upstream")
        {
            Description = "Send the guest's DNS queries (other than the local zones) to this nameserver, IP:PORT (repeatable, tried in order), e.g. 127.0.0.1:5353, instead of the host's resolver (/etc/resolv.conf on Linux, the OS resolver API on Windows).",
            DefaultValueFactory = _ => [],
        }, v => TryParseDnsUpstream(v, out _) ? null : $"invalid --dns-upstream '{v}': expected IP:PORT like 127.0.0.1:53 or [::1]:53");
        var trace = CommonFlags.TracePackets();
        trace.Description += " SIGUSR1 turns it on or off while running.";
        var api = CommonFlags.Validated(new Option<string?>("--api")
        {
            Description = "Also serve the forwarder API (/services/forwarder/{all,expose,unexpose}) and GET /stats on this host-side endpoint, reachable only by this user: unix:///path (socket mode 0600) or, on Windows, npipe:////./pipe/name. The in-guest API at http://192.168.127.1:80 is always served.",
        }, v => v is null ? null : Api.HostApiClient.Validate(v));
        var pcap = new Option<string?>("--pcap") { Description = "Write every switched frame to this pcap file (implied as capture.pcap by --debug)." };
        var logFile = CommonFlags.LogFile(null);
        var outboundAllow = CommonFlags.ValidatedEach(new Option<string[]>("--outbound-allow")
        {
            Description = "Guest traffic may only go to these host destinations (repeatable CIDR, e.g. 127.0.0.0/8). Default: anywhere except 169.254.0.0/16, which only an allow entry covering it opens.",
            DefaultValueFactory = _ => [],
        }, v => Ipv4Cidr.TryParse(v, out _, out var e) ? null : e);
        var outboundDeny = CommonFlags.ValidatedEach(new Option<string[]>("--outbound-deny")
        {
            Description = "Guest traffic to these host destinations is refused (repeatable CIDR); deny wins over allow.",
            DefaultValueFactory = _ => [],
        }, v => Ipv4Cidr.TryParse(v, out _, out var e) ? null : e);
        var mtu = CommonFlags.Validated(new Option<int>("--mtu")
        {
            Description = $"MTU of the virtual network (default {VirtualNetwork.DefaultMtu}, as the original; up to {MaxMtu}): DHCP option 26 and the TCP MSS the gateway offers.",
            DefaultValueFactory = _ => VirtualNetwork.DefaultMtu,
        }, v => v is < MinMtu or > MaxMtu ? $"invalid --mtu {v}: expected an integer from {MinMtu} to {MaxMtu}" : null);

        var cmd = new Command("host-switch", "The host side: L2 switch with MAC learning, and the gateway at .1 (ARP for .1/.254, ICMP echo, DHCP, DNS on UDP).")
        {
            debug, subnet, portForward, listen, searchDomains, dnsUpstream, pcap, trace, logFile, outboundAllow, outboundDeny, mtu, vmHandshake, vmDataListen, api,
        };
        cmd.Validators.Add(r =>
        {
            if ((r.GetValue(vmHandshake) is null) != (r.GetValue(vmDataListen) is null))
                r.AddError("--vm-handshake and --vm-data-listen go together: give both (e.g. --vm-handshake unix:///run/hs.sock --vm-data-listen unix:///run/data.sock) or neither");
        });
        cmd.SetAction(async (parse, ct) =>
        {
            var common = new CommonOptions(parse.GetValue(debug), parse.GetValue(logFile));
            var network = VirtualNetwork.Parse(parse.GetValue(subnet)!) with { Mtu = parse.GetValue(mtu) };
            var egress = new EgressPolicy(
                parse.GetValue(outboundAllow)!.Select(Ipv4Cidr.Parse).ToList(),
                parse.GetValue(outboundDeny)!.Select(Ipv4Cidr.Parse).ToList());
            var rules = parse.GetValue(portForward)!.Select(PortForwardRule.Parse).ToList();
            var vmHs = parse.GetValue(vmHandshake) is { } h ? LinkEndpoint.Parse(h) : null;
            var vmData = parse.GetValue(vmDataListen) is { } d ? LinkEndpoint.Parse(d) : null;
            // Windows without the flags: as the original, find the WSL VM among the running compute systems (spec §2.2)
            // and use its Hyper-V socket ports 6669/6656.
            var discover = vmHs is null && OperatingSystem.IsWindows();
            if (discover)
            {
                vmHs = LinkEndpoint.Parse($"hvsock://any:{HandshakeSignature.HandshakePort}");
                vmData = LinkEndpoint.Parse($"hvsock://any:{HandshakeSignature.DataPort}");
            }
            // With the handshake, the default --listen is not opened unless asked for.
            var endpoints = vmHs is not null && parse.GetResult(listen) is null or { Implicit: true }
                ? []
                : parse.GetValue(listen)!.Select(LinkEndpoint.Parse).ToList();
            var domains = parse.GetResult(searchDomains) is null ? ReadResolvConfSearch() : parse.GetValue(searchDomains)!.Where(d => d.Length > 0).ToList();
            var upstreams = parse.GetValue(dnsUpstream)!.Select(v => TryParseDnsUpstream(v, out var ep) ? ep! : throw new FormatException(v)).ToList();
            var apiEndpoint = parse.GetValue(api);
            var pcapPath = parse.GetValue(pcap) ?? (common.Debug ? Path.Combine(Environment.CurrentDirectory, "capture.pcap") : null);

            var packetTrace = new PacketTrace(parse.GetValue(trace));
            using var onUsr1 = TraceSignal.Register(packetTrace, "host-switch");
            var bound = new List<(LinkEndpoint, LinkListenerActor.PreBound?)>();
            PcapWriter? pcapWriter = null;
            return await RoleHost.RunAsync("host-switch", common, (system, settings, exit) =>
            {
                // A larger --mtu raises the frame limit (and pooled buffer size) of this process to carry it.
                if (network.Mtu + EthernetFrame.HeaderLength > settings.Link.MaxFrameLength)
                    settings = settings with { Link = settings.Link with { MaxFrameLength = network.Mtu + EthernetFrame.HeaderLength } };
                var pool = settings.CreatePool();
                var vm = vmHs is null ? null
                    : new HostHandshakeConfig(vmHs, vmData!, HandshakeSettings.FromConfig(system.Settings.Config).Host, settings.Link,
                        discover ? DiscoverWslVm : null);
                system.ActorOf(HostSwitchActor.Props(new HostSwitchConfig(network, bound, settings, domains, pcapWriter, common.Debug, egress, upstreams, vm, packetTrace, rules, apiEndpoint), pool, exit), "host-switch");
            }, ct, beforeStart: _ =>
            {
                // Bind before the actor system starts, so a bad or busy endpoint is one clear fatal line.
                foreach (var e in endpoints)
                {
                    try
                    {
                        if (e.Scheme == LinkScheme.Unix && Path.GetDirectoryName(e.Path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
                        bound.Add((e, new LinkListenerActor.PreBound(e.Listen())));
                    }
                    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
                    {
                        throw new FatalSetupException($"cannot listen on {e}: {ex.Message}");
                    }
                }
                if (vmData is not null && !discover)
                {
                    // A busy or impossible data endpoint is a clear fatal line now, not five failed handshakes later.
                    try
                    {
                        if (vmData.Scheme == LinkScheme.Unix && Path.GetDirectoryName(vmData.Path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
                        vmData.Listen().Dispose();
                        if (vmData.Scheme == LinkScheme.Unix) File.Delete(vmData.Path);
                    }
                    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
                    {
                        throw new FatalSetupException($"cannot listen for the VM's data link on {vmData}: {ex.Message}");
                    }
                }
                if (pcapPath is not null)
                {
                    if (File.Exists(pcapPath)) File.Delete(pcapPath);
                    pcapWriter = new PcapWriter(new FileStream(pcapPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read));
                    Log.Information("Capturing switched frames to {Path}", pcapPath);
                }
                return Task.CompletedTask;
            }).ConfigureAwait(false);
        });
        return cmd;
    }

    private static IReadOnlyList<VmCandidate> DiscoverWslVm() => OperatingSystem.IsWindows()
        ? HyperVDiscovery.FromRegistry(HandshakeSignature.HandshakePort, HandshakeSignature.DataPort)
        : throw new PlatformNotSupportedException("VM discovery reads the Windows registry; give --vm-handshake and --vm-data-listen here");

    private static bool TryParseDnsUpstream(string text, out System.Net.IPEndPoint? endpoint) =>
        System.Net.IPEndPoint.TryParse(text, out endpoint) && endpoint.Port != 0 && text.Contains(':', StringComparison.Ordinal)
        && (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? text.Count(c => c == ':') == 1 : text.StartsWith('['));

    private static IReadOnlyList<string> ReadResolvConfSearch()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/etc/resolv.conf")) return [];
            return ResolvConf.Parse(File.ReadAllText("/etc/resolv.conf")).Search;
        }
        catch (IOException)
        {
            return [];
        }
    }
}
