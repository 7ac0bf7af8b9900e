using System.Net.Sockets;
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

    /// <summary>Where a flow's other end is: a host socket being connected, a gateway-local service, or an accepted host socket.</summary>
    public abstract record FlowTarget;

    /// <summary>
    /// A host connect the NAT started in its own turn, so the connect runs while the flow actor is being created; the
    /// flow owns <paramref name="Socket"/> (closing it aborts the connect) and answers the guest when <paramref name="Connect"/> ends.
    /// </summary>
    public sealed record HostConnecting(Socket Socket, Task Connect) : FlowTarget;

    public sealed record LocalTarget(IActorRef Service, ushort Port) : FlowTarget;

    // ---- port forwarding (issue #6): connections the gateway opens INTO the guest ----

    /// <summary>
    /// A host connection accepted by a port forward, to be carried into the guest: the NAT opens a TCP connection from
    /// the gateway (.1, a port from <paramref name="FirstPort"/>..<paramref name="LastPort"/>) to
    /// <paramref name="Guest"/>:<paramref name="GuestPort"/> through the engine's active open, and copies between it and
    /// <paramref name="HostSocket"/> (half-close preserved). The guest must answer within rdnet.tcp.connect-timeout,
    /// else the host socket is reset. The NAT (then the flow) owns the socket. The sender gets
    /// <see cref="GuestDialStarted"/> or <see cref="GuestDialRefused"/>.
    /// </summary>
    public sealed record DialGuest(Socket HostSocket, Ipv4Address Guest, ushort GuestPort, ushort FirstPort, ushort LastPort);

    /// <summary>The flow actor carrying a <see cref="DialGuest"/> connection (stop it to reset both sides).</summary>
    public sealed record GuestDialStarted(IActorRef Flow, FlowKey Key);

    /// <summary>The dial could not even start (bad address, table full, no free port); the host socket was closed.</summary>
    public sealed record GuestDialRefused(string Reason);

    /// <summary>The other end is an already connected host socket (a forwarded connection; the guest is dialled).</summary>
    public sealed record AcceptedHost(Socket Socket) : FlowTarget;

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
