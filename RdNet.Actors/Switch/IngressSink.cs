using Akka.Actor;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Actors.Switch;

/// <summary>
/// How frames enter the switch from a port (a link's reader thread, or the gateway): stamp the ingress port and
/// switch the pooled frame on the calling thread through the router's <see cref="SwitchFabric"/>; without a fabric
/// (tests that stand in for the router) the frame is the message itself. No allocation either way.
/// </summary>
public sealed class IngressSink(int portId, IActorRef router, SwitchFabric? fabric = null) : IFrameSink
{
    public void Deliver(FrameBuffer frame)
    {
        frame.Ingress = portId;
        if (fabric is not null) fabric.Switch(frame);
        else router.Tell(frame, ActorRefs.NoSender);
    }
}
