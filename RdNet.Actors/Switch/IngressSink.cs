using Akka.Actor;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Actors.Switch;

/// <summary>
/// How frames enter the router from a port (a link's reader thread, or the gateway): stamp the ingress port and hand
/// the pooled frame over as the message itself, no allocation.
/// </summary>
public sealed class IngressSink(int portId, IActorRef router) : IFrameSink
{
    public void Deliver(FrameBuffer frame)
    {
        frame.Ingress = portId;
        router.Tell(frame, ActorRefs.NoSender);
    }
}
