using RdNet.Transport.Wire;

namespace RdNet.Transport.Diagnostics;

/// <summary>A one-line decode of a frame for opt-in packet tracing (never on the default path).</summary>
public static class FrameSummary
{
    public static string Describe(ReadOnlySpan<byte> frame)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth, out var reason)) return $"{frame.Length}B malformed ({reason})";
        var head = $"{eth.Source}>{eth.Destination} {frame.Length}B";
        switch (eth.EtherType)
        {
            case EtherType.Arp when ArpPacket.TryCreate(eth.Payload, out var arp, out _):
                return arp.Operation == ArpOperation.Request
                    ? $"{head} ARP who-has {arp.TargetProtocol} tell {arp.SenderProtocol}"
                    : $"{head} ARP {arp.SenderProtocol} is-at {arp.SenderHardware}";
            case EtherType.Ipv4 when Ipv4Packet.TryCreate(eth.Payload, out var ip, out _):
                var proto = ip.Protocol switch { IpProtocol.Icmp => "ICMP", IpProtocol.Tcp => "TCP", IpProtocol.Udp => "UDP", _ => $"proto {ip.Protocol}" };
                if (ip.Protocol == IpProtocol.Udp && UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out _))
                    return $"{head} IPv4 {ip.Source}:{udp.SourcePort} > {ip.Destination}:{udp.DestinationPort} UDP {udp.Payload.Length}B";
                if (ip.Protocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out var tcp, out _))
                    return $"{head} IPv4 {ip.Source}:{tcp.SourcePort} > {ip.Destination}:{tcp.DestinationPort} TCP [{tcp.Flags}] seq {tcp.SequenceNumber} {tcp.Payload.Length}B";
                if (ip.Protocol == IpProtocol.Icmp && IcmpPacket.TryCreate(ip.Payload, out var icmp, out _))
                    return $"{head} IPv4 {ip.Source} > {ip.Destination} ICMP type {icmp.Type} code {icmp.Code}";
                return $"{head} IPv4 {ip.Source} > {ip.Destination} {proto}";
            case EtherType.Ipv4:
                Ipv4Packet.TryCreate(eth.Payload, out _, out var ipReason);
                return $"{head} IPv4 malformed ({ipReason})";
            default:
                return $"{head} ethertype 0x{eth.EtherType:x4}";
        }
    }
}
