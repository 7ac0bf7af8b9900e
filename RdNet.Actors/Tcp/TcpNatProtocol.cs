using System.Net;
using Akka.Actor;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Tcp;

/// <summary>A guest TCP connection's 4-tuple: the flow table's key (hashed, never scanned).</summary>
public readonly record struct FlowKey(Ipv4Address Guest, ushort GuestPort, Ipv4Address Remote, ushort RemotePort)
{
    public override string ToString() => $"{Guest}:{GuestPort}->{Remote}:{RemotePort}";
}

/// <summary>Messages of the TCP NAT and its flows.</summary>
public static class TcpNatProtocol
{
    /// <summary>A gateway-local TCP port (.1:port) served by <paramref name="Service"/>, which receives <see cref="Gateway.GatewayProtocol.LocalStreamAccepted"/>.</summary>
    public sealed record RegisterLocalPort(ushort Port, IActorRef Service);

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record TcpNatStats(int Flows, int ConnectsInFlight, long FlowsOpened, IReadOnlyDictionary<DropReason, long> Drops);

    /// <summary>Where a flow's other end is: a host socket address, or a gateway-local service.</summary>
    public abstract record FlowTarget;

    public sealed record HostTarget(IPEndPoint EndPoint) : FlowTarget;

    public sealed record LocalTarget(IActorRef Service, ushort Port) : FlowTarget;

    // ---- between the NAT and its flows ----

    /// <summary>The flow's host connect finished (either way): its connect slot is free.</summary>
    internal sealed record ConnectDone(FlowKey Key);

    /// <summary>A SYN that may reuse a TIME-WAIT flow's 4-tuple: the old flow stops, the NAT opens a new one (owns <paramref name="Syn"/>).</summary>
    internal sealed record Reopen(FlowKey Key, FrameBuffer Syn);

    /// <summary>Fault injection for tests: the flow throws.</summary>
    internal sealed record InjectFault
    {
        public static readonly InjectFault Instance = new();
    }
}
