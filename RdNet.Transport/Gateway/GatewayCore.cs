using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dhcp;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Gateway;

/// <summary>
/// The gateway's own protocol logic, sans-IO: a frame addressed to the gateway (its MAC or broadcast) goes in with
/// the current time, reply frames come out through <see cref="IFrameSink"/>. It answers ARP only for .1 and .254
/// (spec §5.1: never for every address), ICMP echo addressed to .1, and DHCP on .1:67. Everything else is a
/// counted drop with a named reason until the DNS, NAT and forwarding layers take it.
/// </summary>
public sealed class GatewayCore
{
    private const ushort DhcpServerPort = 67;
    private const ushort DhcpClientPort = 68;
    private const byte Ttl = 64;

    private readonly VirtualNetwork _net;
    private readonly DhcpServer _dhcp;
    private readonly FramePool _pool;
    private ushort _ipId;

    public GatewayCore(VirtualNetwork network, DhcpServer dhcp, FramePool pool, DropCounters drops)
    {
        _net = network;
        _dhcp = dhcp;
        _pool = pool;
        Drops = drops;
    }

    public DropCounters Drops { get; }

    public long ArpReplies { get; private set; }
    public long EchoReplies { get; private set; }
    public long DhcpReplies { get; private set; }

    public DhcpServer Dhcp => _dhcp;

    /// <summary>Handles one frame. The caller keeps ownership of <paramref name="frame"/>.</summary>
    public void Process(ReadOnlySpan<byte> frame, DateTimeOffset now, IFrameSink replies)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth, out var reason))
        {
            Drops.Increment(reason);
            return;
        }
        if (eth.Destination != _net.GatewayMac && !eth.Destination.IsBroadcast)
        {
            Drops.Increment(DropReason.UnknownUnicast);
            return;
        }
        switch (eth.EtherType)
        {
            case EtherType.Arp:
                ProcessArp(eth, replies);
                break;
            case EtherType.Ipv4:
                ProcessIpv4(eth, now, replies);
                break;
            default:
                Drops.Increment(DropReason.EthernetUnsupportedType);
                break;
        }
    }

    private void ProcessArp(EthernetFrame eth, IFrameSink replies)
    {
        if (!ArpPacket.TryCreate(eth.Payload, out var arp, out var reason))
        {
            Drops.Increment(reason);
            return;
        }
        if (arp.Operation != ArpOperation.Request)
        {
            Drops.Increment(DropReason.ArpNotRequest);
            return;
        }
        var target = arp.TargetProtocol;
        if (target != _net.Gateway && target != _net.HostAlias)
        {
            Drops.Increment(DropReason.ArpNotForUs);
            return;
        }
        var reply = Rent(EthernetFrame.HeaderLength + ArpMessage.EncodedLength);
        if (reply is null) return;
        var span = reply.Array.AsSpan();
        EthernetFrame.WriteHeader(span, arp.SenderHardware, _net.GatewayMac, EtherType.Arp);
        new ArpMessage(ArpOperation.Reply, _net.GatewayMac, target, arp.SenderHardware, arp.SenderProtocol)
            .Emit(span[EthernetFrame.HeaderLength..]);
        reply.SetLength(EthernetFrame.HeaderLength + ArpMessage.EncodedLength);
        ArpReplies++;
        replies.Deliver(reply);
    }

    private void ProcessIpv4(EthernetFrame eth, DateTimeOffset now, IFrameSink replies)
    {
        if (!Ipv4Packet.TryCreate(eth.Payload, out var ip, out var reason))
        {
            Drops.Increment(reason);
            return;
        }
        if (ip.IsFragment)
        {
            // No reassembly at the gateway: DHCP, ICMP echo and (later) DNS fit one frame at MTU 1500.
            Drops.Increment(DropReason.Ipv4Fragment);
            return;
        }
        var toGateway = ip.Destination == _net.Gateway;
        var broadcast = ip.Destination.IsLimitedBroadcast || ip.Destination == _net.DirectedBroadcast;
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp:
                if (!IcmpPacket.TryCreate(ip.Payload, out var icmp, out reason))
                {
                    Drops.Increment(reason);
                    return;
                }
                if (!toGateway)
                {
                    Drops.Increment(DropReason.IcmpNotForGateway);
                    return;
                }
                if (icmp.Type != IcmpType.EchoRequest || icmp.Code != 0)
                {
                    Drops.Increment(DropReason.IcmpUnsupportedType);
                    return;
                }
                ReplyEcho(eth.Source, ip.Source, icmp, replies);
                return;
            case IpProtocol.Udp:
                if (!UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out reason))
                {
                    Drops.Increment(reason);
                    return;
                }
                if ((toGateway || broadcast) && udp.DestinationPort == DhcpServerPort)
                {
                    ProcessDhcp(udp.Payload, now, replies);
                    return;
                }
                Drops.Increment(toGateway || broadcast ? DropReason.UdpNoListener : DropReason.Ipv4NotForGateway);
                return;
            case IpProtocol.Tcp:
                if (!TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out _, out reason))
                {
                    Drops.Increment(reason);
                    return;
                }
                Drops.Increment(DropReason.TcpNoHandler);
                return;
            default:
                Drops.Increment(DropReason.Ipv4UnsupportedProtocol);
                return;
        }
    }

    private void ReplyEcho(MacAddress dstMac, Ipv4Address dstIp, IcmpPacket request, IFrameSink replies)
    {
        var data = request.Data;
        var icmpLength = 8 + data.Length;
        var total = EthernetFrame.HeaderLength + 20 + icmpLength;
        var reply = Rent(total);
        if (reply is null) return;
        var span = reply.Array.AsSpan(0, total);
        EthernetFrame.WriteHeader(span, dstMac, _net.GatewayMac, EtherType.Ipv4);
        var ipSpan = span[EthernetFrame.HeaderLength..];
        // The reply is built only from parsed fields: identifier, sequence and data; nothing else is echoed.
        IcmpEcho.Emit(ipSpan[20..], IcmpType.EchoReply, request.Identifier, request.SequenceNumber, data);
        Ipv4Header.Emit(ipSpan, _net.Gateway, dstIp, IpProtocol.Icmp, icmpLength, Ttl, _ipId++);
        reply.SetLength(total);
        EchoReplies++;
        replies.Deliver(reply);
    }

    private void ProcessDhcp(ReadOnlySpan<byte> payload, DateTimeOffset now, IFrameSink replies)
    {
        if (!DhcpMessage.TryParse(payload, out var request, out var reason))
        {
            Drops.Increment(reason);
            return;
        }
        var answer = _dhcp.Handle(request!, now, out reason);
        if (answer is null)
        {
            if (reason != DropReason.None) Drops.Increment(reason);
            return;
        }
        var length = answer.Message.EncodedLength;
        var total = EthernetFrame.HeaderLength + 20 + 8 + length;
        var reply = Rent(total);
        if (reply is null) return;
        var span = reply.Array.AsSpan(0, total);
        span.Clear(); // replies never carry stale buffer bytes
        EthernetFrame.WriteHeader(span, answer.DestinationMac, _net.GatewayMac, EtherType.Ipv4);
        var ipSpan = span[EthernetFrame.HeaderLength..];
        var udpSpan = ipSpan[20..];
        answer.Message.Emit(udpSpan[8..]);
        UdpHeader.Emit(udpSpan, _net.Gateway, answer.DestinationAddress, DhcpServerPort, DhcpClientPort, length);
        Ipv4Header.Emit(ipSpan, _net.Gateway, answer.DestinationAddress, IpProtocol.Udp, 8 + length, Ttl, _ipId++);
        reply.SetLength(total);
        DhcpReplies++;
        replies.Deliver(reply);
    }

    /// <summary>A pooled buffer for a reply of <paramref name="length"/> bytes, or null with the reason counted.</summary>
    private FrameBuffer? Rent(int length)
    {
        if (length > _pool.BufferSize)
        {
            Drops.Increment(DropReason.FrameLengthTooLarge);
            return null;
        }
        var b = _pool.TryRent();
        if (b is null) Drops.Increment(DropReason.FramePoolExhausted);
        return b;
    }
}
