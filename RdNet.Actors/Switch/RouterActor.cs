using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Switching;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Switch;

public sealed record RouterOptions(int CamCapacity, TimeSpan CamAgeing, TimeSpan SweepInterval, int MaxPorts, PcapWriter? Pcap = null, bool TracePackets = false);

/// <summary>
/// The L2 switch: every frame from every port comes here (frames enter through the links' reader loops), the
/// <see cref="SwitchCore"/> decides, and the frame goes to one port or is flooded. Port actors are children; a port
/// that fails is stopped (it owns a socket that cannot be reused) and its CAM entries go with it.
/// </summary>
public sealed class RouterActor : ReceiveActor, IWithTimers
{
    private readonly SwitchCore _core;
    private readonly RouterOptions _options;
    private readonly Func<long> _clock;
    private readonly Dictionary<int, PortEntry> _ports = [];
    private readonly Dictionary<IActorRef, int> _byRef = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _nextPortId = 1;

    private sealed record PortEntry(int Id, string Name, IActorRef Ref, FrameLink? Link);

    public ITimerScheduler Timers { get; set; } = null!;

    public RouterActor(RouterOptions options, Func<long>? clock = null)
    {
        _options = options;
        _clock = clock ?? (() => Environment.TickCount64);
        _core = new SwitchCore(new CamTable(options.CamCapacity, options.CamAgeing), new DropCounters());

        Receive<FrameBuffer>(Switch);
        Receive<AttachLink>(OnAttachLink);
        Receive<AttachLocal>(OnAttachLocal);
        Receive<Terminated>(t => Detach(t.ActorRef));
        Receive<AgeTick>(_ =>
        {
            var aged = _core.Cam.Age(_clock());
            if (aged > 0) _log.Debug("Aged out {Count} CAM entries", aged);
        });
        Receive<GetStats>(_ => Sender.Tell(Stats()));
        Receive<FlushCapture>(_ => _options.Pcap?.Flush());
    }

    private sealed record FlushCapture
    {
        public static readonly FlushCapture Instance = new();
    }

    protected override void PreStart()
    {
        if (_options.SweepInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer("cam-ageing", AgeTick.Instance, _options.SweepInterval);
        // A capture is read while the switch runs (tcpdump -r): push it to the file once a second.
        if (_options.Pcap is not null)
            Timers.StartPeriodicTimer("pcap-flush", FlushCapture.Instance, TimeSpan.FromSeconds(1));
    }

    protected override void PostStop() => _options.Pcap?.Dispose();

    // A port whose link fails is stopped, never restarted: its socket is gone. Siblings are untouched (one-for-one).
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e =>
        {
            _log.Warning("Stopping a failed switch port: {Reason}", e.Message);
            return Directive.Stop;
        }, loggingEnabled: false);

    private void Switch(FrameBuffer frame)
    {
        var decision = _core.Decide(frame.Span, frame.Ingress, _clock());
        if (_options.TracePackets)
            _log.Info("port {0}: {1} -> {2}", frame.Ingress, FrameSummary.Describe(frame.Span),
                decision.Action == SwitchAction.Drop ? $"drop ({decision.Reason})" : decision.Action == SwitchAction.Flood ? "flood" : $"port {decision.Port}");
        switch (decision.Action)
        {
            case SwitchAction.Forward when _ports.TryGetValue(decision.Port, out var port):
                _options.Pcap?.Write(frame.Span, DateTimeOffset.UtcNow);
                Deliver(port, frame);
                return;
            case SwitchAction.Flood:
                _options.Pcap?.Write(frame.Span, DateTimeOffset.UtcNow);
                foreach (var p in _ports.Values)
                {
                    if (p.Id == frame.Ingress) continue;
                    frame.Retain();
                    Deliver(p, frame);
                }
                frame.Release();
                return;
            case SwitchAction.Forward:
                _core.Drops.Increment(DropReason.UnknownUnicast);
                frame.Release();
                return;
            default:
                frame.Release();
                return;
        }
    }

    // A link's send queue is a bounded multi-writer channel, so the router writes into it directly: one actor hop per
    // frame less than going through the port actor (which owns the link's lifetime, not its frames). A queue that is
    // full or already closed counts the drop and releases the frame.
    private static void Deliver(PortEntry port, FrameBuffer frame)
    {
        if (port.Link is { } link) link.TrySend(frame);
        else port.Ref.Tell(frame, ActorRefs.NoSender);
    }

    private void OnAttachLink(AttachLink msg)
    {
        if (_ports.Count >= _options.MaxPorts)
        {
            _log.Warning("Refusing link {Link}: the switch already has {Max} ports", msg.Link.Description, _options.MaxPorts);
            msg.Link.Dispose();
            return;
        }
        var id = _nextPortId++;
        var child = Context.ActorOf(PortActor.Props(id, msg.Link, Self), $"port-{id}");
        Context.Watch(child);
        Register(new PortEntry(id, msg.Name, child, msg.Link));
        if (msg.Uplink) _core.UplinkPort = id;
    }

    private void OnAttachLocal(AttachLocal msg)
    {
        // A restarted local port (same ActorRef) attaches again: its old entry goes first.
        if (_byRef.ContainsKey(msg.Port)) Detach(msg.Port);
        var id = _nextPortId++;
        Context.Watch(msg.Port);
        _core.Cam.AddStatic(msg.Mac, id);
        Register(new PortEntry(id, msg.Name, msg.Port, null));
        msg.Port.Tell(new PortAttached(id, msg.Name, msg.Port));
    }

    private void Register(PortEntry entry)
    {
        _ports[entry.Id] = entry;
        _byRef[entry.Ref] = entry.Id;
        _log.Info("Port {Port} attached: {Name}", entry.Id, entry.Name);
        Context.Parent.Tell(new PortAttached(entry.Id, entry.Name, entry.Ref));
    }

    private void Detach(IActorRef actor)
    {
        if (!_byRef.Remove(actor, out var id) || !_ports.Remove(id, out var entry)) return;
        var removed = _core.Cam.RemovePort(id);
        if (_core.UplinkPort == id) _core.UplinkPort = -1;
        _log.Info("Port {Port} detached: {Name}; {Count} CAM entries removed", id, entry.Name, removed);
        Context.Parent.Tell(new PortDetached(id, entry.Name));
    }

    private RouterStats Stats() => new(
        _core.Drops.Snapshot(),
        _core.Cam.Count,
        _ports.Values.OrderBy(p => p.Id).Select(p => new PortInfo(
            p.Id, p.Name,
            p.Link?.Stats.FramesIn ?? 0, p.Link?.Stats.FramesOut ?? 0,
            p.Link?.Stats.BytesIn ?? 0, p.Link?.Stats.BytesOut ?? 0,
            p.Link?.Stats.Drops.Snapshot() ?? new Dictionary<DropReason, long>())).ToList(),
        _core.Forwarded,
        _core.Flooded);

    public static Props Props(RouterOptions options, Func<long>? clock = null) =>
        Akka.Actor.Props.Create(() => new RouterActor(options, clock));
}
