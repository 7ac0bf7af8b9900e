using RdNet.Transport.Wire;

namespace RdNet.Transport.Udp;

/// <summary>
/// One UDP flow through the NAT: the guest's address and port and the destination exactly as the guest addressed it
/// (so .254, not 127.0.0.1). Replies are sent back from <see cref="Destination"/>:<see cref="DestinationPort"/>.
/// </summary>
public readonly record struct UdpFlowKey(Ipv4Address Guest, ushort GuestPort, Ipv4Address Destination, ushort DestinationPort)
{
    public override string ToString() => $"{Guest}:{GuestPort}->{Destination}:{DestinationPort}";
}
