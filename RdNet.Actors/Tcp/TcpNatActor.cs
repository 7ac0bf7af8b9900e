using RdNet.Actors.Gateway;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using RdNet.Actors.Infrastructure;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tcp.TcpNatProtocol;

namespace RdNet.Actors.Tcp;

/// <summary>
/// The gateway's TCP service: every TCP segment from the guest arrives here (a pooled frame this actor owns) and
/// goes to the flow of its 4-tuple, found in a hash table. A SYN for no flow opens one — after the egress policy
/// (denied → RST), within the flow and connect bounds (beyond them the SYN is dropped and counted; the guest
/// retransmits) — as a child <see cref="TcpFlowActor"/> that connects the host socket before it answers SYN-ACK.
/// A SYN to the gateway's own address goes to the local service registered for the port (none → RST). Segments for
/// no flow are answered with RST. A failing flow is stopped (it resets its guest connection and closes its socket);
/// its siblings never notice. Segments arrive verified by the gateway core (checksum included), so only offsets are
/// checked again here and in the flow.
/// </summary>
public sealed class TcpNatActor : GuestFrameActor
{
    private readonly IFrameSink _sink;
    private readonly FramePool _pool;
    private readonly DropCounters _drops;
    private readonly VirtualNetwork _net;
    private readonly EgressPolicy _egress;
    private readonly TcpNatSettings _settings;
    private readonly TcpFlowTable _flows;
    private readonly Dictionary<IActorRef, (FlowKey Key, bool Connecting)> _byActor = [];
    private readonly Dictionary<ushort, IActorRef> _local;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // One notice per limit: hitting one limit again and again must not silence the first hit of the other.
    private readonly LimitNotice _flowLimitNotice = new(NoticeInterval);
    private readonly LimitNotice _connectLimitNotice = new(NoticeInterval);
    private int _connecting;
    private long _opened;
    private long _nextId;
    private uint _nextDialPort;
    // Guest MACs seen on SYNs, for connections the gateway opens into the guest (port forwards); at most max-flows.
    private readonly Dictionary<Ipv4Address, MacAddress> _neighbors = [];
    // ...else what the gateway learned from DHCP and ARP (null in tests that have no gateway).
    private readonly NeighborTable? _gatewayNeighbors;

    public TcpNatActor(IFrameSink sink, FramePool pool, DropCounters drops, VirtualNetwork network, EgressPolicy egress,
        TcpNatSettings settings, IReadOnlyDictionary<ushort, IActorRef>? localPorts, TcpFlowTable? flows = null,
        NeighborTable? gatewayNeighbors = null)
    {
        _flows = flows ?? new TcpFlowTable();
        _gatewayNeighbors = gatewayNeighbors;
        _sink = sink;
        _pool = pool;
        _drops = drops;
        _net = network;
        _egress = egress;
        _settings = settings;
        _local = localPorts is null ? [] : new Dictionary<ushort, IActorRef>(localPorts);
        if (settings.RunFlowsInLine) InlineDispatcher.Ensure(Context.System); // the flows' dispatcher (TcpFlowActor.Props)

        Receive<FrameBuffer>(OnFrame);
        Receive<ConnectDone>(d =>
        {
            if (_byActor.TryGetValue(Sender, out var e) && e.Connecting)
            {
                _byActor[Sender] = (e.Key, false);
                _connecting--;
            }
        });
        Receive<Reopen>(r =>
        {
            // The old flow is stopping itself; the SYN opens the new incarnation.
            Forget(Sender);
            OnFrame(r.Syn);
        });
        Receive<Terminated>(t => Forget(t.ActorRef));
        Receive<RegisterLocalPort>(r =>
        {
            _local[r.Port] = r.Service;
            _log.Info("Gateway TCP port {Port} served by {Service}", r.Port, r.Service.Path);
        });
        Receive<DialGuest>(OnDialGuest);
        Receive<GetStats>(_ => Sender.Tell(new TcpNatStats(_flows.Count, _connecting, _opened, _drops.Snapshot())));
    }

    private static TimeSpan NoticeInterval =>
        Context.System.Settings.Config.GetTimeSpan("rdnet.logging.limit-notice-interval", TimeSpan.FromSeconds(10));

    private void Forget(IActorRef flow)
    {
        if (!_byActor.Remove(flow, out var e)) return;
        if (e.Connecting) _connecting--;
        _flows.Remove(e.Key, flow);
    }

    private void OnFrame(FrameBuffer frame)
    {
        bool handedOver = false;
        try
        {
            if (!EthernetFrame.TryCreate(frame.Span, out var eth, out var reason)
                || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out reason)
                || !TcpSegment.TryCreateVerified(ip.Payload, out var tcp))
            {
                _drops.Increment(reason == DropReason.None ? DropReason.TcpTruncated : reason);
                return;
            }
            var key = new FlowKey(ip.Source, tcp.SourcePort, ip.Destination, tcp.DestinationPort);
            // The gateway's fast path sends a known flow's segments to the flow directly; here are the rest (and
            // everything, before the fast path knows this actor).
            if (_flows.TryGet(key, out var flow))
            {
                flow.Tell(frame, Self);
                handedOver = true;
                return;
            }
            var flags = tcp.Flags;
            if ((flags & TcpFlags.Rst) != 0)
            {
                _drops.Increment(DropReason.TcpNatNoFlow); // never answer a RST
                return;
            }
            var seg = TcpSegmentIn.From(tcp);
            if ((flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Fin)) != TcpFlags.Syn)
            {
                _drops.Increment(DropReason.TcpNatNoFlow);
                Reset(eth.Source, key, seg);
                return;
            }
            if (_flows.Count >= _settings.MaxFlows)
            {
                _drops.Increment(DropReason.TcpNatFlowTableFull);
                if (_flowLimitNotice.Hit(Environment.TickCount64, out var more))
                    _log.Warning("TCP NAT flow table full ({MaxFlows} flows): new guest connections are dropped ({Reason}; {Unlogged} more since the last notice)", _settings.MaxFlows, DropReason.TcpNatFlowTableFull, more);
                return;
            }
            if (_connecting >= _settings.MaxConnectsInFlight)
            {
                _drops.Increment(DropReason.TcpNatConnectsInFlightFull);
                if (_connectLimitNotice.Hit(Environment.TickCount64, out var more))
                    _log.Warning("TCP NAT: {MaxConnects} host connects already in flight: new guest connections are dropped ({Reason}; {Unlogged} more since the last notice)", _settings.MaxConnectsInFlight, DropReason.TcpNatConnectsInFlightFull, more);
                return;
            }
            FlowTarget target;
            if (ip.Destination == _net.Gateway)
            {
                if (!_local.TryGetValue(tcp.DestinationPort, out var service))
                {
                    _drops.Increment(DropReason.TcpNatLocalPortClosed);
                    Reset(eth.Source, key, seg);
                    return;
                }
                target = new LocalTarget(service, tcp.DestinationPort);
            }
            else if (_egress.TryResolve(ip.Destination, _net, out var host, out reason))
            {
                var started = StartConnect(new IPEndPoint(host.ToIPAddress(), tcp.DestinationPort));
                if (started.Connect.IsFaulted)
                {
                    // Known at once (a loopback port nobody listens on, an unreachable network): no flow is needed to refuse.
                    started.Socket.Dispose();
                    _drops.Increment(DropReason.TcpNatConnectFailed);
                    _log.Debug("TCP NAT: host connect for {Flow} failed at once ({Reason}); RST to the guest", key,
                        TcpFlowActor.Describe(started.Connect.Exception!.GetBaseException()));
                    Reset(eth.Source, key, seg);
                    return;
                }
                target = started;
            }
            else
            {
                _drops.Increment(reason);
                Reset(eth.Source, key, seg);
                return;
            }

            if (_neighbors.Count < _settings.MaxFlows || _neighbors.ContainsKey(ip.Source)) _neighbors[ip.Source] = eth.Source;
            IActorRef child;
            try
            {
                child = Context.ActorOf(TcpFlowActor.Props(key, eth.Source, frame, target, _settings, _net, _pool, _sink, _drops), $"f{_nextId++}");
            }
            catch
            {
                if (target is HostConnecting started) started.Socket.Dispose();
                throw;
            }
            handedOver = true;
            Context.Watch(child);
            _flows.Set(key, child);
            _byActor[child] = (key, true);
            _connecting++;
            _opened++;
        }
        finally
        {
            if (!handedOver) frame.Release();
        }
    }

    /// <summary>
    /// Starts the host connect here, in the NAT's turn, rather than in the flow's first turn: the connect then runs
    /// while the flow actor is being created instead of after it, and a loopback connect's outcome is known before this
    /// returns (<see cref="HostConnect"/>), so the flow answers SYN-ACK in its first turn or the NAT refuses at once.
    /// </summary>
    private static HostConnecting StartConnect(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        return new HostConnecting(socket, HostConnect.Start(socket, endPoint));
    }

    /// <summary>Port forwarding (issue #6): an active open from .1:ephemeral into the guest for a host connection.</summary>
    private void OnDialGuest(DialGuest d)
    {
        var guest = d.Guest;
        string? refusal = null;
        if (!_net.IsGuestAddress(guest))
            refusal = $"{guest} is not a guest address of {_net}";
        else if (_flows.Count >= _settings.MaxFlows)
        {
            _drops.Increment(DropReason.TcpNatFlowTableFull);
            refusal = "the TCP flow table is full";
        }
        FlowKey key = default;
        if (refusal is null && !TryAllocateGatewayPort(d, out key)) refusal = "no free gateway port";
        if (refusal is not null)
        {
            d.HostSocket.Dispose();
            Sender.Tell(new GuestDialRefused(refusal));
            return;
        }
        var mac = _neighbors.TryGetValue(guest, out var known) ? known : _gatewayNeighbors?.MacFor(guest) ?? _net.GuestMac;
        var child = Context.ActorOf(TcpFlowActor.PropsDial(key, mac, d.HostSocket, _settings, _net, _pool, _sink, _drops), $"d{_nextId++}");
        Context.Watch(child);
        _flows.Set(key, child);
        _byActor[child] = (key, false);
        _opened++;
        Sender.Tell(new GuestDialStarted(child, key));
    }

    private bool TryAllocateGatewayPort(DialGuest d, out FlowKey key)
    {
        int first = Math.Min(d.FirstPort, d.LastPort), count = Math.Abs(d.LastPort - d.FirstPort) + 1;
        for (var i = 0; i < count; i++)
        {
            var port = (ushort)(first + (int)(_nextDialPort++ % (uint)count));
            key = new FlowKey(d.Guest, d.GuestPort, _net.Gateway, port);
            if (!_flows.ContainsKey(key)) return true;
        }
        key = default;
        return false;
    }

    private void Reset(MacAddress guestMac, FlowKey key, in TcpSegmentIn seg)
    {
        var writer = new TcpFrameWriter(_pool, _sink, _drops, guestMac, _net.GatewayMac, key.Remote, key.RemotePort, key.Guest, key.GuestPort);
        writer.Send(TcpSegmentOut.ResetFor(seg), default, default);
    }

    // A flow that throws is stopped: its PostStop resets the guest side and closes the socket.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    // The gateway knows which sibling services own gateway TCP ports (.1:53 DNS, .1:80 API); asking at every start,
    // restarts included, means a restarted NAT never forgets them.
    protected override void PreStart()
    {
        _flows.Clear(); // a restarted NAT starts without flows (its old children were stopped with it)
        Context.Parent.Tell(GatewayProtocol.RequestLocalPorts.Instance);
    }

    protected override void PostStop() => _flows.Clear();

    public static Props Props(IFrameSink sink, FramePool pool, DropCounters drops, VirtualNetwork network, EgressPolicy egress,
        TcpNatSettings settings, IReadOnlyDictionary<ushort, IActorRef>? localPorts = null, TcpFlowTable? flows = null,
        NeighborTable? gatewayNeighbors = null) =>
        Akka.Actor.Props.Create(() => new TcpNatActor(sink, pool, drops, network, egress, settings, localPorts, flows, gatewayNeighbors));

    /// <summary>
    /// The NAT on the inline dispatcher when flows run in line (rdnet.tcp.run-flows-in-line): a guest's SYN is then
    /// taken on the link reader's thread and the new flow's first turn follows there (<see cref="InlineDispatcher"/>).
    /// </summary>
    public static Props InLineWhenSet(Props props, TcpNatSettings settings, ActorSystem system) =>
        settings.RunFlowsInLine ? props.WithDispatcher(InlineDispatcher.Ensure(system)) : props;
}
