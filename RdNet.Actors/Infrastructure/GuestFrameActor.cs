using Akka.Actor;
using RdNet.Transport.Links;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// An actor that sends frames to the guest: each message it handles is one <see cref="FrameLink.Burst"/>, so the
/// frames the message queued on a link are written by this thread when the message is done (when the link's writer
/// is idle and the burst is small) instead of waking the link's writer loop.
/// </summary>
public abstract class GuestFrameActor : ReceiveActor
{
    protected override bool AroundReceive(Receive receive, object message)
    {
        using (FrameLink.Burst()) return base.AroundReceive(receive, message);
    }
}
