using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Switching;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Switch;

public sealed record RouterOptions(int CamCapacity, TimeSpan CamAgeing, TimeSpan SweepInterval, int MaxPorts, PcapWriter? Pcap = null, PacketTrace? Trace = null);

/// <summary>
/// The L2 switch: every frame from every port is switched by this router's <see cref="SwitchFabric"/> (on the thread
/// it arrives on: a link's reader loop or a gateway service), the <see cref="SwitchCore"/> decides, and the frame goes
/// to one port or is flooded. The actor owns the ports: attach, detach, CAM ageing, stats. Port actors are children; a port
/// that fails is stopped (it owns a socket that cannot be reused) and its CAM entries go with it.
/// </summary>
public sealed class RouterActor : ReceiveActor, IWithTimers
{
    private readonly SwitchCore _core;
    private readonly SwitchFabric _fabric;
    private readonly RouterOptions _options;
    private readonly Func<long> _clock;
    private readonly PacketTrace _trace;
    private readonly Dictionary<int, PortEntry> _ports = [];
    private readonly Dictionary<IActorRef, int> _byRef = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _nextPortId = 1;

    private sealed record PortEntry(int Id, string Name, IActorRef Ref, FrameLink? Link, IInlineReceiver? Inline = null);

    public ITimerScheduler Timers { get; set; } = null!;

    public RouterActor(RouterOptions options, Func<long>? clock = null)
    {
        _options = options;
        _clock = clock ?? (() => Environment.TickCount64);
        _trace = options.Trace ?? new PacketTrace(false);
        _core = new SwitchCore(new CamTable(options.CamCapacity, options.CamAgeing), new DropCounters());
        _fabric = new SwitchFabric(_core, options, _trace, _clock, _log);

        Receive<FrameBuffer>(_fabric.Switch);
        Receive<AttachLink>(OnAttachLink);
        Receive<AttachLocal>(OnAttachLocal);
        Receive<Terminated>(t => Detach(t.ActorRef));
        Receive<AgeTick>(_ =>
        {
            var aged = _fabric.WithCore(c => c.Cam.Age(_clock()));
            if (aged > 0) _log.Debug("Aged out {Count} CAM entries", aged);
        });
        Receive<GetStats>(_ => Sender.Tell(Stats()));
        Receive<FlushCapture>(_ => _fabric.FlushCapture());
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

    protected override void PostStop() => _fabric.Close();

    // A port whose link fails is stopped, never restarted: its socket is gone. Siblings are untouched (one-for-one).
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e =>
        {
            _log.Warning("Stopping a failed switch port: {Reason}", e.Message);
            return Directive.Stop;
        }, loggingEnabled: false);

    private void OnAttachLink(AttachLink msg)
    {
        if (_ports.Count >= _options.MaxPorts)
        {
            _log.Warning("Refusing link {Link}: the switch already has {Max} ports", msg.Link.Description, _options.MaxPorts);
            msg.Link.Dispose();
            return;
        }
        var id = _nextPortId++;
        var child = Context.ActorOf(PortActor.Props(id, msg.Link, Self, _fabric), $"port-{id}");
        Context.Watch(child);
        Register(new PortEntry(id, msg.Name, child, msg.Link));
        if (msg.Uplink) _fabric.WithCore(c => c.UplinkPort = id);
    }

    private void OnAttachLocal(AttachLocal msg)
    {
        // A restarted local port (same ActorRef) attaches again: its old entry goes first.
        if (_byRef.ContainsKey(msg.Port)) Detach(msg.Port);
        var id = _nextPortId++;
        Context.Watch(msg.Port);
        _fabric.WithCore(c =>
        {
            c.Cam.AddStatic(msg.Mac, id);
            return 0;
        });
        Register(new PortEntry(id, msg.Name, msg.Port, null, msg.Inline));
        msg.Port.Tell(new PortAttached(id, msg.Name, msg.Port) { Fabric = _fabric });
    }

    private void Register(PortEntry entry)
    {
        _ports[entry.Id] = entry;
        _byRef[entry.Ref] = entry.Id;
        _fabric.Add(new SwitchFabric.Port(entry.Id, entry.Ref, entry.Link, entry.Inline));
        _log.Info("Port {Port} attached: {Name}", entry.Id, entry.Name);
        Context.Parent.Tell(new PortAttached(entry.Id, entry.Name, entry.Ref));
    }

    private void Detach(IActorRef actor)
    {
        if (!_byRef.Remove(actor, out var id) || !_ports.Remove(id, out var entry)) return;
        // One step under the fabric's lock: the port leaves the table and the CAM together, so a frame that arrived
        // from it meanwhile cannot teach the CAM its MAC again (frames from a port not in the table are dropped).
        var removed = _fabric.Remove(id, c =>
        {
            if (c.UplinkPort == id) c.UplinkPort = -1;
            return c.Cam.RemovePort(id);
        });
        _log.Info("Port {Port} detached: {Name}; {Count} CAM entries removed", id, entry.Name, removed);
        Context.Parent.Tell(new PortDetached(id, entry.Name));
    }

    private RouterStats Stats() => new(
        _core.Drops.Snapshot(),
        _fabric.WithCore(c => c.Cam.Count),
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
