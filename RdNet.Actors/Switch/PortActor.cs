using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Actors.Switch;

/// <summary>
/// One switch port: owns one link, runs its reader (frames go straight to the router, stamped with this port's id)
/// and feeds its writer. When the link ends cleanly the port stops; when it fails the port throws, and the router's
/// supervisor strategy stops it. Either way the router drops its CAM entries and nothing else is touched.
/// </summary>
public sealed class PortActor : ReceiveActor
{
    private readonly int _portId;
    private readonly FrameLink _link;
    private readonly IActorRef _router;
    private readonly SwitchFabric? _fabric;
    private readonly CancellationTokenSource _cts = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    private sealed record LinkEnded(Exception? Failure);

    public PortActor(int portId, FrameLink link, IActorRef router, SwitchFabric? fabric = null)
    {
        _fabric = fabric;
        _portId = portId;
        _link = link;
        _router = router;

        // A full send queue is a counted drop inside the link (never "unhandled", which would log per frame).
        Receive<FrameBuffer>(frame => { _link.TrySend(frame); });
        Receive<LinkEnded>(ended =>
        {
            if (ended.Failure is not null)
                throw new LinkFailedException(_link.Description, ended.Failure.GetBaseException().Message, ended.Failure);
            _log.Info("Port {Port} ({Link}) ended: {Reason}", _portId, _link.Description, _link.EndReason ?? "closed");
            Context.Stop(Self);
        });
    }

    public FrameLink Link => _link;

    protected override void PreStart()
    {
        var sink = new IngressSink(_portId, _router, _fabric);
        _link.RunAsync(sink, _cts.Token).PipeTo(Self, success: () => new LinkEnded(null), failure: e => new LinkEnded(e));
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _link.Dispose();
        _cts.Dispose();
    }

    public static Props Props(int portId, FrameLink link, IActorRef router, SwitchFabric? fabric = null) =>
        Akka.Actor.Props.Create(() => new PortActor(portId, link, router, fabric));
}
