namespace RdNet.Transport.Gateway;

/// <summary>What <see cref="GatewayCore"/>'s one validation made of a frame arriving at the gateway.</summary>
public enum GatewayFrameClass
{
    /// <summary>Malformed or not for the gateway; the <see cref="Diagnostics.DropReason"/> says why.</summary>
    Refused,
    /// <summary>An ARP packet (for the gateway's MAC or broadcast), answered by <see cref="GatewayCore.Process"/>.</summary>
    Arp,
    /// <summary>A valid, unfragmented IPv4 packet other than TCP, answered or handed on by <see cref="GatewayCore.Process"/>.</summary>
    Ipv4,
    /// <summary>A valid TCP segment (checksum included) unicast to the gateway, for the installed TCP service.</summary>
    Tcp,
}
