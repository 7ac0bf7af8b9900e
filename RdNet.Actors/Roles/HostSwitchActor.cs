using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using RdNet.Actors.Dns;
using RdNet.Actors.Forwarding;
using RdNet.Actors.Forwarding.Api;
using RdNet.Actors.Gateway;
using RdNet.Actors.Icmp;
using RdNet.Actors.Handshake;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Links;
using RdNet.Actors.Switch;
using RdNet.Actors.Tcp;
using RdNet.Actors.UdpNat;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dhcp;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Roles;

public sealed record HostSwitchConfig(
    VirtualNetwork Network,
    IReadOnlyList<(LinkEndpoint Endpoint, LinkListenerActor.PreBound? Bound)> Listeners,
    RdNetSettings Settings,
    IReadOnlyList<string> SearchDomains,
    PcapWriter? Pcap,
    bool LogTraffic,
    EgressPolicy Egress,
    IReadOnlyList<System.Net.IPEndPoint>? DnsUpstreams = null,
    HostHandshakeConfig? VmHandshake = null,
    PacketTrace? Trace = null,
    IReadOnlyList<PortForwardRule>? StaticForwards = null,
    string? HostApi = null);

/// <summary>
/// Root of host-switch: the switch router, the gateway port and one listener per <c>--listen</c> endpoint.
/// Listeners restart with backoff; losing the router is fatal (exit code 1 through CoordinatedShutdown).
/// </summary>
public sealed class HostSwitchActor : ReceiveActor, IWithTimers
{
    private readonly HostSwitchConfig _config;
    private readonly FramePool _pool;
    private readonly RoleExit _exit;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _router = ActorRefs.Nobody;
    private IActorRef _forwarder = ActorRefs.Nobody;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record LogTraffic
    {
        public static readonly LogTraffic Instance = new();
    }

    public HostSwitchActor(HostSwitchConfig config, FramePool pool, RoleExit exit)
    {
        _config = config;
        _pool = pool;
        _exit = exit;

        // The handshake child watches the port of the data link it attached (issue #7).
        Receive<PortAttached>(a =>
        {
            if (a.Name.StartsWith(HostHandshakeActor.LinkPrefix, StringComparison.Ordinal)) Context.Child("vm-handshake").Forward(a);
        });
        Receive<PortDetached>(_ => { });
        Receive<HandshakeProtocol.VmLinkUp>(_ => { });
        Receive<HandshakeProtocol.VmLinkDown>(_ => { });
        Receive<HandshakeProtocol.HandshakeGaveUp>(g => _exit.Fail(Context.System, 1, $"handshake with the VM failed: {g.Reason}"));
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_router)) _exit.Fail(Context.System, 1, "the switch router stopped");
        });
        Receive<LogTraffic>(_ => _router.Tell(GetStats.Instance));
        Receive<RouterStats>(s =>
        {
            // "Sent" = frames switched towards guest ports, "Received" = frames from them (spec §5.11).
            long sent = 0, received = 0;
            foreach (var p in s.Ports) { sent += p.BytesOut; received += p.BytesIn; }
            _log.Debug("{Sent} bytes sent to the VM, {Received} bytes received from the VM; {Summary}",
                sent, received, RouterStatsText.Describe(s));
        });
        // Port forwarding (issue #6): the API's commands go to the forwarder; a static forward that cannot be installed
        // or a host-side API that cannot start is fatal, as any other setup error.
        Receive<ForwarderProtocol.IForwarderCommand>(m => _forwarder.Forward(m));
        Receive<ForwarderProtocol.Done>(_ => { });
        Receive<ForwarderProtocol.Refused>(r => _exit.Fail(Context.System, 1, $"cannot install a --port-forward: {r.Error.Message}"));
        Receive<HostApiActor.ApiStarted>(_ => { });
        Receive<HostApiActor.ApiFailed>(f => _exit.Fail(Context.System, 1, $"cannot serve the API on {f.Endpoint}: {f.Reason}"));
        Receive<GetStats>(m => _router.Forward(m));
        Receive<GatewayActor.GetStats>(m => Context.Child("gateway").Forward(m));
        Receive<Observability.StatsProtocol.GetSnapshot>(_ => Context.ActorOf(Observability.StatsAggregatorActor.Props(Sender, StatsSources(),
            Context.System.Settings.Config.GetTimeSpan("rdnet.stats.aggregate-timeout", TimeSpan.FromSeconds(2)))));
    }

    /// <summary>Who a stats snapshot asks: the switch, the gateway and each gateway service (children named after the service).</summary>
    private List<Observability.StatsAggregatorActor.Source> StatsSources()
    {
        var gateway = Context.Child("gateway");
        var sources = new List<Observability.StatsAggregatorActor.Source>
        {
            new("switch", _router, GetStats.Instance),
            new("gateway", gateway, GatewayActor.GetStats.Instance),
        };
        if (!gateway.IsNobody())
        {
            sources.Add(new("tcp", Context.ActorSelection(gateway.Path / "tcp"), Tcp.TcpNatProtocol.GetStats.Instance));
            sources.Add(new("udp", Context.ActorSelection(gateway.Path / "udp"), UdpNat.UdpProtocol.GetStats.Instance));
            sources.Add(new("icmp", Context.ActorSelection(gateway.Path / "icmp"), IcmpEchoActor.GetStats.Instance));
            sources.Add(new("dns", Context.ActorSelection(gateway.Path / "dns"), Dns.DnsProtocol.GetStats.Instance));
        }
        if (!_forwarder.IsNobody())
            sources.Add(new("forwarder", _forwarder, Forwarding.ForwarderProtocol.GetStats.Instance));
        return sources;
    }

    protected override void PreStart()
    {
        var s = _config.Settings;
        var net = _config.Network;
        _router = Context.ActorOf(RouterActor.Props(new RouterOptions(s.CamCapacity, s.CamAgeing, s.CamSweepInterval, s.MaxPorts, _config.Pcap, Trace: _config.Trace)), "switch");
        Context.Watch(_router);

        var dhcp = new DhcpServer(new DhcpServerOptions(
            ServerAddress: net.Gateway,
            Network: net.Network,
            PrefixLength: net.PrefixLength,
            Router: net.Gateway,
            DnsServers: [net.Gateway],
            Mtu: net.Mtu,
            LeaseTime: s.DhcpLeaseTime,
            StaticLeases: new Dictionary<MacAddress, Ipv4Address> { [net.GuestMac] = net.Guest },
            Reserved: [net.Gateway, net.HostAlias],
            SearchDomains: _config.SearchDomains,
            MaxLeases: s.DhcpMaxLeases,
            OfferHold: s.DhcpOfferHold));
        var drops = new DropCounters();
        var tcpFlows = new TcpFlowTable();
        // Guests' MACs as the gateway learns them from DHCP and ARP: a forward's first datagram or dial to a guest that
        // has not spoken to it yet goes to that guest's MAC, not the configured one.
        var neighbors = new NeighborTable(net, s.CamCapacity, drops);
        var system = Context.System;
        var services = new Dictionary<GatewayService, Func<IFrameSink, Props>>
        {
            [GatewayService.Tcp] = sink => TcpNatActor.InLineWhenSet(
                TcpNatActor.Props(sink, _pool, drops, net, _config.Egress, s.Tcp, flows: tcpFlows, gatewayNeighbors: neighbors), s.Tcp, system),
        };
        AddDns(services, net, drops);
        // UDP NAT and ICMP echo forwarding (issue 5): each counts its own drops (logged with --debug / in its stats).
        var config = Context.System.Settings.Config;
        var udp = UdpNatSettings.FromConfig(config);
        var icmp = IcmpEchoSettings.FromConfig(config);
        services[GatewayService.Udp] = sink => UdpNatActor.Props(net, _config.Egress, sink, _pool, new DropCounters(), udp);
        services[GatewayService.Icmp] = sink => IcmpEchoActor.Props(net, _config.Egress, sink, _pool, new DropCounters(), icmp);
        var forwarding = AddForwarding(services, net, drops, neighbors);
        var core = new GatewayCore(net, dhcp, _pool, drops, new HashSet<GatewayService>(services.Keys), neighbors);
        // Guest TCP to .1:53 is DNS over TCP, served by the DNS service through the TCP stack; .1:80 is the forwarder API.
        var localTcpPorts = new Dictionary<ushort, GatewayService> { [53] = GatewayService.Dns, [80] = GatewayService.ForwarderApi };
        // Segments of known TCP connections go from the switch straight to their flow (GatewayFastPath).
        var gateway = Context.ActorOf(GatewayActor.Props(core, _router, net, s.DhcpExpiryInterval, services, localTcpPorts,
            new GatewayFastPath(core, tcpFlows)), "gateway");
        StartForwarding(gateway, net, forwarding);

        var i = 0;
        foreach (var (endpoint, bound) in _config.Listeners)
        {
            var child = LinkListenerActor.Props(endpoint, _router, _pool, s.Link, bound);
            var backoff = BackoffSupervisor.Props(Backoff.OnFailure(child, "listener", s.ListenerMinBackoff, s.ListenerMaxBackoff, 0.2, -1));
            Context.ActorOf(backoff, $"listen-{i++}");
        }
        if (_config.VmHandshake is { } vm)
            Context.ActorOf(HostHandshakeActor.Props(vm, _router, _pool), "vm-handshake");
        _log.Info("host-switch up: subnet {Subnet}, gateway {Gateway} ({Mac}), guest {Guest}, host alias {Host}",
            net, net.Gateway, net.GatewayMac, net.Guest, net.HostAlias);
        _log.Info("MTU {Mtu}; egress policy: {Egress}", net.Mtu, _config.Egress);
        if (_config.LogTraffic && s.StatsInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer("traffic", LogTraffic.Instance, s.StatsInterval);
    }

    /// <summary>Port forwarding (issue #6): the forwarder, the gateway's UDP forward service and the in-guest API on .1:80.</summary>
    // Forwarding counts into the gateway's shared DropCounters, so its drops (connection/flow limits, API backlog) are
    // in the gateway's stats and GET /stats.
    private ForwardingSettings AddForwarding(Dictionary<GatewayService, Func<IFrameSink, Props>> services, VirtualNetwork net, DropCounters drops,
        NeighborTable neighbors)
    {
        var fwd = ForwardingSettings.FromConfig(Context.System.Settings.Config);
        _forwarder = Context.ActorOf(ForwarderActor.Props(net, fwd, drops), "forwarder");
        var forwarder = _forwarder;
        services[GatewayService.UdpForward] = sink => GuestUdpActor.Props(net, sink, _pool, drops, fwd.GatewayPortFirst, fwd.GatewayPortLast, neighbors);
        services[GatewayService.ForwarderApi] = _ => GuestApiActor.Props(forwarder, fwd, drops);
        return fwd;
    }

    private void StartForwarding(IActorRef gateway, VirtualNetwork net, ForwardingSettings fwd)
    {
        _forwarder.Tell(new ForwarderProtocol.AttachGateway(gateway));
        // A duplicate left side: the later rule wins (spec §5.10).
        var rules = new Dictionary<System.Net.IPEndPoint, PortForwardRule>();
        foreach (var r in _config.StaticForwards ?? []) rules[r.Host] = r;
        foreach (var rule in rules.Values)
        {
            if (!ForwardSpec.TryFromRule(rule, net, out var spec, out var error))
            {
                _exit.Fail(Context.System, 1, $"cannot install --port-forward {rule}: {error!.Message}");
                return;
            }
            _forwarder.Tell(new ForwarderProtocol.Expose(spec!.Local, spec.Remote, "tcp", null));
        }
        if (_config.HostApi is { } api) Context.ActorOf(HostApiActor.Props(api, Self, Self, fwd), "api");
    }

    /// <summary>DNS on .1:53 (issue #3): --dns-upstream servers if given, else the host's own resolver.</summary>
    private void AddDns(Dictionary<GatewayService, Func<IFrameSink, Props>> services, VirtualNetwork net, DropCounters drops)
    {
        var dns = DnsSettings.FromConfig(Context.System.Settings.Config, net);
        IDnsUpstream upstream = _config.DnsUpstreams is { Count: > 0 } servers
            ? new NameserverUpstream(servers, dns.UpstreamTimeout, dns.UpstreamAttempts)
            : HostResolver.Create();
        var server = new DnsServer(dns.ServerOptions, drops);
        services[GatewayService.Dns] = sink => DnsServiceActor.Props(server, upstream, dns, sink, _pool, net);
    }

    // The router and gateway hold no per-frame state worth losing the switch over: a throw is logged and resumed.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Resume);

    public static Props Props(HostSwitchConfig config, FramePool pool, RoleExit exit) =>
        Akka.Actor.Props.Create(() => new HostSwitchActor(config, pool, exit));
}
