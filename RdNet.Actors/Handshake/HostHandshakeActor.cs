using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using static RdNet.Actors.Handshake.HandshakeProtocol;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Handshake;

/// <param name="Discover">When set (Windows: <see cref="HyperVDiscovery.FromRegistry"/>), each probe round asks it for the
/// candidate VMs and probes them all; the one that answers gives the endpoints of that round. Otherwise the one
/// <paramref name="Handshake"/>/<paramref name="DataListen"/> pair is used.</param>
public sealed record HostHandshakeConfig(LinkEndpoint Handshake, LinkEndpoint DataListen, HandshakeTimings Timings, LinkOptions Link, Func<IReadOnlyList<VmCandidate>>? Discover = null);

/// <summary>
/// host-switch's side of the handshake (spec §2.3): probe the guest's handshake endpoint and read its phrase, listen
/// for data, connect again and write READY, accept the data connection and attach it to the router. When the data link
/// drops, the whole handshake is done again without restarting the process. The decisions (what next, by when,
/// retry or give up) are <see cref="HostHandshake"/>'s; this actor does the I/O of each step and one Become state
/// per step. The router's parent forwards <see cref="PortAttached"/> for our link here, so the port can be watched.
/// </summary>
public sealed class HostHandshakeActor : ReceiveActor, IWithTimers
{
    public const string LinkPrefix = "vm ";
    private readonly HostHandshakeConfig _config;
    private readonly IActorRef _router;
    private readonly FramePool _pool;
    private readonly Func<TimeSpan> _clock;
    private readonly HostHandshake _core;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private CancellationTokenSource _step = new();
    private Socket? _dataListener;
    private VmCandidate _vm;
    private int _generation;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record ProbeDone(int Generation, VmCandidate? Vm, SignatureKind? Kind, string? Failure);
    private sealed record ReadyDone(int Generation, string? Failure);
    private sealed record DataAccepted(int Generation, Socket Socket);
    private sealed record AcceptFailed(int Generation, string Failure);
    private sealed record DeadlineReached(int Generation);
    private sealed record AttachTimedOut(string Name);

    public HostHandshakeActor(HostHandshakeConfig config, IActorRef router, FramePool pool, Func<TimeSpan>? clock = null)
    {
        _config = config;
        _router = router;
        _pool = pool;
        _clock = clock ?? (() => TimeSpan.FromMilliseconds(Environment.TickCount64));
        _core = new HostHandshake(config.Timings);
        _vm = new VmCandidate(config.Handshake.ToString(), config.Handshake, config.DataListen);
    }

    protected override void PreStart()
    {
        if (_config.Discover is null) _log.Info("Handshake: probing {Handshake}, data links accepted on {Data}", _config.Handshake, _config.DataListen);
        else _log.Info("Handshake: probing the running VMs on port {Port}", _config.Handshake.Port);
        Apply(_core.Start(_clock()));
    }

    /// <summary>Runs the I/O of the step the core chose and becomes the state that waits for its result.</summary>
    private void Apply(HostAction action)
    {
        _step.Cancel();
        _step.Dispose();
        _step = new CancellationTokenSource();
        var gen = ++_generation;
        var ct = _step.Token;
        Timers.Cancel("attach");
        if (action.Step is not (HostStep.Linked or HostStep.Failed))
            Timers.StartSingleTimer("deadline", new DeadlineReached(gen), Clamp(action.Deadline - _clock()));
        else
            Timers.Cancel("deadline");
        switch (action.Step)
        {
            case HostStep.Probe:
                var discover = _config.Discover;
                var single = _vm;
                Task.Run(() => HandshakeConnections.ProbeFirstAsync(discover is null ? [single] : discover(), ct), CancellationToken.None).PipeTo(Self,
                    success: r => new ProbeDone(gen, r.Candidate, r.Kind, null),
                    failure: e => new ProbeDone(gen, null, null, Describe(e)));
                Become(Probing);
                break;
            case HostStep.ListenForData:
                CloseDataListener();
                try
                {
                    _dataListener = _vm.DataListen.Listen(backlog: 4);
                }
                catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
                {
                    Apply(_core.AttemptFailed($"cannot listen on {_vm.DataListen}: {e.Message}", _clock()));
                    return;
                }
                Apply(_core.DataListening(_clock()));
                break;
            case HostStep.SendReady:
                HandshakeConnections.SendReadyAsync(_vm.Handshake, ct).PipeTo(Self,
                    success: () => new ReadyDone(gen, null),
                    failure: e => new ReadyDone(gen, Describe(e)));
                Become(SendingReady);
                break;
            case HostStep.AcceptData:
                _dataListener!.AcceptAsync(ct).AsTask().PipeTo(Self,
                    success: s => new DataAccepted(gen, s),
                    failure: e => new AcceptFailed(gen, Describe(e)));
                Become(AcceptingData);
                break;
            case HostStep.Wait:
                CloseDataListener();
                _log.Debug("Handshake: next try in {Delay}", Clamp(action.Deadline - _clock()));
                Become(Waiting);
                break;
            case HostStep.Failed:
                CloseDataListener();
                _log.Error("Handshake with {Handshake} failed: {Reason}", _vm.Handshake, _core.LastFailure);
                Context.Parent.Tell(new HandshakeGaveUp(_core.LastFailure ?? "handshake failed"));
                Become(GaveUp);
                break;
            case HostStep.Linked:
                // The caller attaches the link and becomes Linked.
                break;
            default:
                throw new InvalidOperationException($"step {action.Step} has no I/O");
        }
    }

    private void Probing()
    {
        Receive<ProbeDone>(m => m.Generation == _generation, m =>
        {
            if (m.Kind is { } kind)
            {
                _vm = m.Vm!;
                _log.Info("Handshake: {Handshake} answered with the {Kind} phrase", _vm.Handshake, kind);
                Apply(_core.ProbeAnswered(kind, _clock()));
            }
            else
            {
                // An absent guest is the normal state before the VM starts: quiet unless debugging.
                _log.Debug("Handshake probe failed: {Reason}", m.Failure);
                Apply(_core.ProbeFailed(m.Failure!, _clock()));
            }
        });
        CommonReceives();
    }

    private void SendingReady()
    {
        Receive<ReadyDone>(m => m.Generation == _generation, m =>
        {
            if (m.Failure is null) Apply(_core.ReadySent(_clock()));
            else
            {
                _log.Warning("Handshake: {Reason}", m.Failure);
                Apply(_core.AttemptFailed(m.Failure, _clock()));
            }
        });
        CommonReceives();
    }

    private void AcceptingData()
    {
        Receive<DataAccepted>(m => m.Generation == _generation, m =>
        {
            CloseDataListener();
            Apply(_core.DataAccepted(_clock()));
            var name = $"{LinkPrefix}{_vm.DataListen}#{_core.Handshakes}";
            _log.Info("Handshake {Count} done: data link {Link} attached ({Kind} phrase)", _core.Handshakes, name, _core.PeerSignature);
            if (_vm.DataListen.Scheme == LinkScheme.Tcp) m.Socket.NoDelay = true;
            _router.Tell(new AttachLink(new StreamLink(m.Socket, name, _pool, _config.Link), name));
            Context.Parent.Tell(new VmLinkUp(name, _core.PeerSignature!.Value, _core.Handshakes));
            Become(() => Linked(name));
        });
        Receive<AcceptFailed>(m => m.Generation == _generation, m =>
        {
            _log.Warning("Handshake: accepting the data connection failed: {Reason}", m.Failure);
            Apply(_core.AttemptFailed(m.Failure, _clock()));
        });
        CommonReceives();
    }

    private void Linked(string name)
    {
        IActorRef? port = null;
        // The router refuses a link when it is full (max-ports): then no PortAttached comes and the link is gone.
        Timers.StartSingleTimer("attach", new AttachTimedOut(name), _config.Timings.ConnectTimeout);
        Receive<PortAttached>(a => a.Name == name, a =>
        {
            Timers.Cancel("attach");
            port = a.Port;
            Context.Watch(a.Port);
        });
        Receive<AttachTimedOut>(t => t.Name == name && port is null, _ =>
        {
            _log.Warning("The switch did not attach data link {Link}; doing the handshake again", name);
            Context.Parent.Tell(new VmLinkDown(name));
            Apply(_core.LinkDropped(_clock()));
        });
        Receive<AttachTimedOut>(_ => { });
        Receive<Terminated>(t => t.ActorRef.Equals(port), _ =>
        {
            _log.Warning("Data link {Link} dropped; doing the handshake again", name);
            Context.Parent.Tell(new VmLinkDown(name));
            Apply(_core.LinkDropped(_clock()));
        });
        CommonReceives();
    }

    private void Waiting()
    {
        Receive<AttachTimedOut>(_ => { });
        CommonReceives();
    }

    private void GaveUp()
    {
        Receive<DeadlineReached>(_ => { });
        CloseLateSockets();
    }

    private void CommonReceives()
    {
        Receive<DeadlineReached>(m => m.Generation == _generation, _ =>
        {
            var before = _core.Step;
            var next = _core.Expired(_clock());
            if (before != HostStep.Wait && next.Step != before) _log.Debug("Handshake: step {Step} timed out", before);
            Apply(next);
        });
        Receive<DeadlineReached>(_ => { });
        CloseLateSockets();
    }

    /// <summary>Results of a step that already timed out: close what they carry.</summary>
    private void CloseLateSockets()
    {
        Receive<DataAccepted>(m => m.Socket.Dispose());
        Receive<ProbeDone>(_ => { });
        Receive<ReadyDone>(_ => { });
        Receive<AcceptFailed>(_ => { });
        Receive<PortAttached>(_ => { });
        Receive<Terminated>(_ => { });
    }

    private static TimeSpan Clamp(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;

    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "cancelled at the step deadline",
        AggregateException a => Describe(a.GetBaseException()),
        _ => e.Message,
    };

    private void CloseDataListener()
    {
        if (_dataListener is null) return;
        _dataListener.Dispose();
        _dataListener = null;
        if (_vm.DataListen.Scheme == LinkScheme.Unix)
        {
            try { File.Delete(_vm.DataListen.Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    protected override void PostStop()
    {
        _step.Cancel();
        _step.Dispose();
        CloseDataListener();
    }

    public static Props Props(HostHandshakeConfig config, IActorRef router, FramePool pool, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new HostHandshakeActor(config, router, pool, clock));
}
