using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Udp;
using RdNet.Transport.Wire;
using static RdNet.Actors.UdpNat.UdpProtocol;

namespace RdNet.Actors.UdpNat;

/// <summary>
/// The gateway's UDP service (<see cref="GatewayService.Udp"/>): guest datagrams to addresses other than the
/// gateway. Each (guest address, guest port, destination, destination port) gets one <see cref="UdpFlowActor"/> with
/// its own connected host socket, found by hash; the destination goes through the shared <see cref="EgressPolicy"/>
/// (.254 → 127.0.0.1; martians — multicast, broadcast, loopback, the virtual subnet — and 169.254/16 are refused
/// unless allowed), a refusal being a counted drop. The table is capped at <c>rdnet.udp.max-flows</c>: a new flow
/// on a full table closes the least recently used one (RELIABILITY row 14). Fragments never get here: the gateway
/// core counts them as <see cref="DropReason.Ipv4Fragment"/> (no reassembly). A flow that throws is stopped alone
/// and the next datagram for its 4-tuple opens a new one.
/// </summary>
public sealed class UdpNatActor : ReceiveActor, IWithTimers
{
    private readonly VirtualNetwork _network;
    private readonly EgressPolicy _egress;
    private readonly IFrameSink _sink;
    private readonly FramePool _pool;
    private readonly DropCounters _drops;
    private readonly UdpNatSettings _settings;
    private readonly Func<UdpFlowStart, Props> _flowProps;
    private readonly LruTable<UdpFlowKey, IActorRef> _flows;
    private readonly Dictionary<IActorRef, UdpFlowKey> _keys = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LimitNotice _limitNotice = new(Context.System.Settings.Config.GetTimeSpan("rdnet.logging.limit-notice-interval", TimeSpan.FromSeconds(10)));
    private readonly int _maxPayload;
    private long _created, _evicted, _closed, _failed;
    private UdpNatStats? _lastLogged;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record LogStats
    {
        public static readonly LogStats Instance = new();
    }

    public UdpNatActor(VirtualNetwork network, EgressPolicy egress, IFrameSink sink, FramePool pool, DropCounters drops,
        UdpNatSettings settings, Func<UdpFlowStart, Props>? flowProps)
    {
        _network = network;
        _egress = egress;
        _sink = sink;
        _pool = pool;
        _drops = drops;
        _settings = settings;
        _flowProps = flowProps ?? UdpFlowActor.Props;
        _flows = new LruTable<UdpFlowKey, IActorRef>(settings.MaxFlows);
        _maxPayload = network.Mtu - Ipv4Header.Length - UdpHeader.Length;

        Receive<FrameBuffer>(OnFrame);
        Receive<Terminated>(OnTerminated);
        Receive<GetStats>(_ => Sender.Tell(Stats()));
        // A datagram told to a flow that stopped meanwhile (idle, evicted) comes back as a dead letter: its buffer
        // returns to the pool here.
        Receive<AllDeadLetters>(d =>
        {
            if (d.Message is GuestDatagram g && Self.Path.Equals(d.Recipient.Path.Parent)) g.Frame.Release();
        });
        Receive<LogStats>(_ =>
        {
            var s = Stats();
            if (_lastLogged is not null && s.Flows == _lastLogged.Flows && s.Created == _lastLogged.Created
                && s.Closed == _lastLogged.Closed && s.Drops.Values.Sum() == _lastLogged.Drops.Values.Sum()) return;
            _lastLogged = s;
            _log.Debug("UDP NAT: {Flows} flows open ({Created} created, {Evicted} evicted, {Closed} closed, {Failed} failed); drops {Drops}",
                s.Flows, s.Created, s.Evicted, s.Closed, s.Failed,
                s.Drops.Count == 0 ? "none" : string.Join(", ", s.Drops.Select(d => $"{d.Key}={d.Value}")));
        });
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(AllDeadLetters));
        if (_settings.StatsInterval > TimeSpan.Zero && _log.IsDebugEnabled)
            Timers.StartPeriodicTimer("stats", LogStats.Instance, _settings.StatsInterval);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private UdpNatStats Stats() => new(_flows.Count, _created, _evicted, _closed, _failed, _drops.Snapshot());

    private void OnFrame(FrameBuffer frame)
    {
        var handedOver = false;
        try
        {
            handedOver = Forward(frame);
        }
        finally
        {
            if (!handedOver) frame.Release();
        }
    }

    /// <summary>Sends the datagram to its flow (which then owns the frame); false when it was dropped here.</summary>
    private bool Forward(FrameBuffer frame)
    {
        // The gateway core validated all of this already; the views are re-created to read the fields (no copies).
        var span = frame.Span;
        if (!EthernetFrame.TryCreate(span, out var eth, out var reason)
            || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out reason)
            || !UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out reason))
        {
            _drops.Increment(reason);
            return false;
        }
        if (ip.IsFragment)
        {
            _drops.Increment(DropReason.Ipv4Fragment);
            return false;
        }
        // Replies go to the source: it must be a guest of the virtual subnet, never the gateway's own addresses.
        var source = ip.Source;
        if (!_network.IsGuestAddress(source))
        {
            _drops.Increment(DropReason.Ipv4BadSource);
            return false;
        }
        var key = new UdpFlowKey(source, udp.SourcePort, ip.Destination, udp.DestinationPort);
        if (!_flows.TryGet(key, out var flow) && !TryOpen(key, out flow)) return false;

        const int ipOffset = EthernetFrame.HeaderLength;
        var payloadOffset = ipOffset + ip.HeaderLength + UdpDatagram.HeaderLength;
        flow.Tell(new GuestDatagram(frame, payloadOffset, udp.Payload.Length, ipOffset, ip.HeaderLength + NatFrames.QuotedDataLength, eth.Source));
        return true;
    }

    private bool TryOpen(UdpFlowKey key, out IActorRef flow)
    {
        flow = ActorRefs.Nobody;
        if (!_egress.TryResolve(key.Destination, _network, out var host, out var reason))
        {
            _drops.Increment(reason);
            return false;
        }
        Socket? socket = null;
        try
        {
            socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
            // A connected socket: the host picks the source address and port, and only the destination's replies arrive.
            socket.Connect(new IPEndPoint(host.ToIPAddress(), key.DestinationPort));
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            // Said once (out of descriptors would say it per datagram); the count is in the summary and the stats.
            if (_drops[DropReason.UdpHostSocketFailed] == 0)
                _log.Warning("UDP flow {Flow}: cannot open a host socket ({Error}); such datagrams are dropped and counted as UdpHostSocketFailed", key, e.SocketErrorCode);
            _drops.Increment(DropReason.UdpHostSocketFailed);
            return false;
        }
        flow = Context.ActorOf(_flowProps(new UdpFlowStart(key, socket, _network.GatewayMac, _sink, _pool, _drops, _maxPayload, _settings.IdleTimeout)));
        Context.Watch(flow);
        _keys[flow] = key;
        _created++;
        if (_flows.Add(key, flow, out var evicted))
        {
            _keys.Remove(evicted.Value);
            Context.Unwatch(evicted.Value);
            Context.Stop(evicted.Value);
            _evicted++;
            if (_limitNotice.Hit(Environment.TickCount64, out var more))
                _log.Warning("UDP NAT flow table full ({MaxFlows} flows): the least recently used flow is closed for each new one ({Unlogged} more since the last notice)", _flows.Capacity, more);
        }
        return true;
    }

    private void OnTerminated(Terminated t)
    {
        if (!_keys.Remove(t.ActorRef, out var key)) return;
        _flows.Remove(key);
        _closed++;
    }

    // A flow that throws is stopped (its PostStop closes the socket); the others are not touched.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _failed++;
        _log.Warning("UDP flow failed and is closed: {Error}", e.Message);
        return Directive.Stop;
    });

    public static Props Props(VirtualNetwork network, EgressPolicy egress, IFrameSink sink, FramePool pool, DropCounters drops,
        UdpNatSettings settings, Func<UdpFlowStart, Props>? flowProps = null) =>
        Akka.Actor.Props.Create(() => new UdpNatActor(network, egress, sink, pool, drops, settings, flowProps));
}
