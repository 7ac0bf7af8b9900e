using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// A frame sent to a port that has just stopped lands in dead letters; this returns its buffer to the pool so that
/// a port going away never leaks pooled memory.
/// </summary>
public sealed class DeadFrameReclaimer : ReceiveActor
{
    private long _reclaimed;

    public DeadFrameReclaimer()
    {
        Receive<AllDeadLetters>(d =>
        {
            if (d.Message is FrameBuffer f)
            {
                f.Release();
                _reclaimed++;
            }
        });
        Receive<GetReclaimed>(_ => Sender.Tell(_reclaimed));
    }

    public sealed record GetReclaimed
    {
        public static readonly GetReclaimed Instance = new();
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(AllDeadLetters));

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    public static Props Props() => Akka.Actor.Props.Create(() => new DeadFrameReclaimer());
}
