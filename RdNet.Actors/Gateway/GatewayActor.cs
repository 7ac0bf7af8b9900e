using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Switch;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dhcp;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Gateway;

/// <summary>
/// The gateway as a port of the switch (.1, MAC 5a:94:ef:e4:0c:dd). A thin shell over <see cref="GatewayCore"/>:
/// frames in, reply frames back to the router; DHCP lease expiry on a timer. Frames that belong to a service behind
/// the gateway (DNS, TCP, UDP, ICMP NAT; see <see cref="GatewayService"/>) are handed, with their buffer, to that
/// service's child actor, created when the gateway's port is attached from a factory that receives the sink through
/// which the service sends its own frames to the switch. A failing service child is restarted; its own children
/// (flows, queries) are its business.
/// </summary>
public sealed class GatewayActor : ReceiveActor, IWithTimers
{
    private readonly GatewayCore _core;
    private readonly IActorRef _router;
    private readonly VirtualNetwork _network;
    private readonly TimeSpan _expiryInterval;
    private readonly IReadOnlyDictionary<GatewayService, Func<IFrameSink, Props>> _services;
    private readonly Dictionary<GatewayService, IActorRef> _serviceActors = [];
    private readonly IReadOnlyDictionary<ushort, GatewayService> _localTcpPorts;
    private readonly GatewayFastPath? _fastPath;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record GatewayStats(IReadOnlyDictionary<DropReason, long> Drops, long ArpReplies, long EchoReplies, long DhcpReplies, IReadOnlyList<DhcpLease> Leases);

    private sealed record ExpireLeases
    {
        public static readonly ExpireLeases Instance = new();
    }

    public GatewayActor(GatewayCore core, IActorRef router, VirtualNetwork network, TimeSpan expiryInterval,
        IReadOnlyDictionary<GatewayService, Func<IFrameSink, Props>> services, IReadOnlyDictionary<ushort, GatewayService> localTcpPorts,
        GatewayFastPath? fastPath)
    {
        _localTcpPorts = localTcpPorts;
        _fastPath = fastPath;
        _core = core;
        _router = router;
        _network = network;
        _expiryInterval = expiryInterval;
        _services = services;
        Become(Detached);
    }

    private void Detached()
    {
        Receive<PortAttached>(a =>
        {
            _log.Info("Gateway {Gateway} ({Mac}) attached as port {Port}", _network.Gateway, _network.GatewayMac, a.PortId);
            var sink = new IngressSink(a.PortId, _router, a.Fabric);
            foreach (var (service, factory) in _services)
                _serviceActors[service] = Context.ActorOf(factory(sink), service.ToString().ToLowerInvariant());
            _fastPath?.SetTcpService(_serviceActors.GetValueOrDefault(GatewayService.Tcp));
            Become(() => Attached(sink));
        });
        Receive<FrameBuffer>(f => f.Release());
        Receive<GatewayProtocol.ToService>(m => Sender.Tell(new GatewayProtocol.ServiceUnavailable(m.Service, m.Message)));
        Receive<GetStats>(_ => Sender.Tell(Stats()));
    }

    private void Attached(IngressSink sink)
    {
        Receive<FrameBuffer>(frame =>
        {
            try
            {
                var service = _core.Process(frame.Span, DateTimeOffset.UtcNow, sink);
                // The core only names services that were installed, so the lookup cannot miss; the service owns the
                // reference it is handed and releases it.
                if (service != GatewayService.None && _serviceActors.TryGetValue(service, out var target))
                {
                    frame.Retain();
                    target.Tell(frame, ActorRefs.NoSender);
                }
            }
            finally
            {
                frame.Release();
            }
        });
        Receive<ExpireLeases>(_ =>
        {
            var n = _core.Dhcp.ExpireLeases(DateTimeOffset.UtcNow);
            if (n > 0) _log.Info("{Count} DHCP leases expired", n);
        });
        Receive<GetStats>(_ => Sender.Tell(Stats()));
        // Port forwarding (issue #6): a forward talks to the service behind the gateway that carries its traffic.
        Receive<GatewayProtocol.ToService>(m =>
        {
            if (_serviceActors.TryGetValue(m.Service, out var owner)) owner.Forward(m.Message);
            else Sender.Tell(new GatewayProtocol.ServiceUnavailable(m.Service, m.Message));
        });
        Receive<GatewayProtocol.RequestLocalPorts>(_ =>
        {
            foreach (var (port, service) in _localTcpPorts)
            {
                if (_serviceActors.TryGetValue(service, out var owner))
                    Sender.Tell(new Tcp.TcpNatProtocol.RegisterLocalPort(port, owner));
            }
        });
    }

    private GatewayStats Stats() =>
        new(_core.Drops.Snapshot(), _core.ArpReplies, _core.EchoReplies, _core.DhcpReplies, _core.Dhcp.Leases);

    protected override void PreStart()
    {
        _router.Tell(new AttachLocal(Self, _network.GatewayMac, $"gateway {_network.Gateway}", _fastPath));
        if (_expiryInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer("dhcp-expiry", ExpireLeases.Instance, _expiryInterval);
    }

    // Stopped or restarting: its service children go with it, so TCP goes through the gateway actor until the next start.
    protected override void PostStop() => _fastPath?.SetTcpService(null);

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);

    public static Props Props(GatewayCore core, IActorRef router, VirtualNetwork network, TimeSpan expiryInterval,
        IReadOnlyDictionary<GatewayService, Func<IFrameSink, Props>>? services = null,
        IReadOnlyDictionary<ushort, GatewayService>? localTcpPorts = null, GatewayFastPath? fastPath = null) =>
        Akka.Actor.Props.Create(() => new GatewayActor(core, router, network, expiryInterval,
            services ?? new Dictionary<GatewayService, Func<IFrameSink, Props>>(),
            localTcpPorts ?? new Dictionary<ushort, GatewayService>(), fastPath));
}
