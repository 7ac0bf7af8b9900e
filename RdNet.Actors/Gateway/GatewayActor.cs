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
/// frames in, reply frames back to the router; DHCP lease expiry on a timer.
/// </summary>
public sealed class GatewayActor : ReceiveActor, IWithTimers
{
    private readonly GatewayCore _core;
    private readonly IActorRef _router;
    private readonly VirtualNetwork _network;
    private readonly TimeSpan _expiryInterval;
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

    public GatewayActor(GatewayCore core, IActorRef router, VirtualNetwork network, TimeSpan expiryInterval)
    {
        _core = core;
        _router = router;
        _network = network;
        _expiryInterval = expiryInterval;
        Become(Detached);
    }

    private void Detached()
    {
        Receive<PortAttached>(a =>
        {
            _log.Info("Gateway {Gateway} ({Mac}) attached as port {Port}", _network.Gateway, _network.GatewayMac, a.PortId);
            var sink = new IngressSink(a.PortId, _router);
            Become(() => Attached(sink));
        });
        Receive<FrameBuffer>(f => f.Release());
        Receive<GetStats>(_ => Sender.Tell(Stats()));
    }

    private void Attached(IngressSink sink)
    {
        Receive<FrameBuffer>(frame =>
        {
            try
            {
                _core.Process(frame.Span, DateTimeOffset.UtcNow, sink);
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
    }

    private GatewayStats Stats() =>
        new(_core.Drops.Snapshot(), _core.ArpReplies, _core.EchoReplies, _core.DhcpReplies, _core.Dhcp.Leases);

    protected override void PreStart()
    {
        _router.Tell(new AttachLocal(Self, _network.GatewayMac, $"gateway {_network.Gateway}"));
        if (_expiryInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer("dhcp-expiry", ExpireLeases.Instance, _expiryInterval);
    }

    public static Props Props(GatewayCore core, IActorRef router, VirtualNetwork network, TimeSpan expiryInterval) =>
        Akka.Actor.Props.Create(() => new GatewayActor(core, router, network, expiryInterval));
}
