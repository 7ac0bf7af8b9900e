using Akka.Actor;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Switch;
using RdNet.Actors.Tcp;
using RdNet.Transport.Buffers;
using RdNet.Transport.Gateway;

namespace RdNet.Actors.Gateway;

/// <summary>
/// Where a guest TCP segment leaves the switch: on the link reader's thread, validated by the same classifier as
/// <see cref="GatewayCore.Process"/> (<see cref="GatewayCore.ClassifyTcp"/>, checksum included), it goes straight to its
/// flow actor, found by 4-tuple in the NAT's <see cref="TcpFlowTable"/>, or — a SYN for a new connection, a segment
/// for no connection — to the TCP NAT actor itself. A frame the classifier refuses is counted here with its reason and
/// released (<see cref="GatewayCore.Process"/> would count the same). Everything else (ARP, DHCP, DNS, UDP, ICMP) is
/// not taken and goes to the <see cref="GatewayActor"/>. All TCP of one guest link comes this one way, in order.
/// </summary>
public sealed class GatewayFastPath(GatewayCore core, TcpFlowTable flows) : IInlineReceiver
{
    private volatile IActorRef? _nat;

    /// <summary>The TCP NAT actor, once the gateway has started it (until then TCP goes through the gateway actor).</summary>
    public void SetTcpService(IActorRef? nat) => _nat = nat;

    public bool TryTake(FrameBuffer frame)
    {
        var nat = _nat;
        if (nat is null) return false;
        switch (core.ClassifyTcp(frame.Span, out var refused, out var source, out var sourcePort, out var destination, out var destinationPort))
        {
            case GatewayFrameClass.Tcp:
                if (!flows.TryGet(new FlowKey(source, sourcePort, destination, destinationPort), out var flow))
                {
                    // A SYN: the NAT (in line when on the inline dispatcher) creates the flow, whose first turn follows.
                    using (InlineDispatcher.RunHere()) nat.Tell(frame, ActorRefs.NoSender);
                    return true;
                }
                // An idle flow takes its segment on this (the link reader's) thread; a busy one has it queued.
                using (InlineDispatcher.RunHere()) flow.Tell(frame, ActorRefs.NoSender);
                return true;
            case GatewayFrameClass.Refused:
                core.Drops.Increment(refused);
                frame.Release();
                return true;
            default:
                return false;
        }
    }
}
