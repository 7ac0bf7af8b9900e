namespace RdNet.Transport.Gateway;

/// <summary>
/// The layers behind the gateway that take over an IPv4 packet the gateway core does not answer itself.
/// <see cref="GatewayCore.Process"/> returns which one a frame belongs to; the caller (the gateway actor) hands the
/// frame to that service. A service that is not installed turns into the drop reason the core counted before.
/// </summary>
public enum GatewayService
{
    /// <summary>Answered or dropped (and counted) by the core itself.</summary>
    None = 0,

    /// <summary>UDP to the gateway's port 53.</summary>
    Dns,

    /// <summary>Every well-formed TCP segment from the guest (the user-space TCP stack: NAT and the gateway's own TCP services).</summary>
    Tcp,

    /// <summary>UDP to an address other than the gateway (NAT onto host sockets).</summary>
    Udp,

    /// <summary>ICMP echo request to an address other than the gateway.</summary>
    Icmp,

    /// <summary>UDP to a gateway port other than 53 and 67: replies to datagrams a UDP port forward sent from .1 (issue #6).</summary>
    UdpForward,

    /// <summary>No frames: owns the gateway's TCP port 80, the forwarder API inside the virtual network (issue #6).</summary>
    ForwarderApi,
}
