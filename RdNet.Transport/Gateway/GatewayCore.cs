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
/// counted drop with a named reason, unless a service behind the gateway (DNS, TCP, UDP, ICMP NAT) is installed for
/// it: then <see cref="Process"/> returns that <see cref="GatewayService"/> and the caller hands the frame over.
/// </summary>
public sealed class GatewayCore
{
    private const ushort DhcpServerPort = 67;
    private const ushort DhcpClientPort = 68;
    private const ushort DnsPort = 53;
    private const byte Ttl = 64;

    private readonly VirtualNetwork _net;
    private readonly DhcpServer _dhcp;
    private readonly FramePool _pool;
    private readonly IReadOnlySet<GatewayService> _services;
    private readonly bool _hasTcp;
    private ushort _ipId;

    public GatewayCore(VirtualNetwork network, DhcpServer dhcp, FramePool pool, DropCounters drops, IReadOnlySet<GatewayService>? services = null,
        NeighborTable? neighbors = null)
    {
        Neighbors = neighbors;
        _net = network;
        _dhcp = dhcp;
        _pool = pool;
        Drops = drops;
        _services = services ?? new HashSet<GatewayService>();
        _hasTcp = _services.Contains(GatewayService.Tcp);
    }

    public DropCounters Drops { get; }

    /// <summary>Where the guests' MACs learned from DHCP and ARP go (none: nothing is learned).</summary>
    public NeighborTable? Neighbors { get; }

    public long ArpReplies { get; private set; }
    public long EchoReplies { get; private set; }
    public long DhcpReplies { get; private set; }

    public DhcpServer Dhcp => _dhcp;

    /// <summary>
    /// Handles one frame. The caller keeps ownership of <paramref name="frame"/>. Returns the installed service that
    /// the (validated) frame belongs to, or <see cref="GatewayService.None"/> when it was answered or counted here.
    /// </summary>
    public GatewayService Process(ReadOnlySpan<byte> frame, DateTimeOffset now, IFrameSink replies)
    {
        switch (Classify(frame, out var eth, out var ip, out _, out var reason))
        {
            case GatewayFrameClass.Arp:
                ProcessArp(eth, replies);
                return GatewayService.None;
            case GatewayFrameClass.Ipv4:
                return ProcessIpv4(eth, ip, now, replies);
            case GatewayFrameClass.Tcp:
                return GatewayService.Tcp;
            default:
                return Drop(reason);
        }
    }

    /// <summary>
    /// The fast path's test, safe on any thread (it reads only settings fixed at construction), and the same
    /// <see cref="Classify"/> that <see cref="Process"/> uses: <see cref="GatewayFrameClass.Tcp"/> with the 4-tuple
    /// for exactly the frames <see cref="Process"/> would hand to <see cref="GatewayService.Tcp"/>;
    /// <see cref="GatewayFrameClass.Refused"/> with the reason <see cref="Process"/> would count (nothing is counted
    /// here; the caller counts it); <see cref="GatewayFrameClass.Arp"/> or <see cref="GatewayFrameClass.Ipv4"/> for a
    /// frame only <see cref="Process"/> can answer.
    /// </summary>
    public GatewayFrameClass ClassifyTcp(ReadOnlySpan<byte> frame, out DropReason refused, out Ipv4Address source, out ushort sourcePort,
        out Ipv4Address destination, out ushort destinationPort)
    {
        var kind = Classify(frame, out _, out var ip, out var tcp, out refused);
        if (kind == GatewayFrameClass.Tcp)
        {
            source = ip.Source;
            destination = ip.Destination;
            sourcePort = tcp.SourcePort;
            destinationPort = tcp.DestinationPort;
        }
        else
        {
            source = destination = default;
            sourcePort = destinationPort = 0;
        }
        return kind;
    }

    /// <summary>
    /// The one validation of a frame arriving at the gateway, shared by <see cref="Process"/> and the fast path
    /// (<see cref="ClassifyTcp"/>) so the two cannot drift apart. Counts nothing: a refusal comes back as its reason.
    /// TCP is taken only as a valid segment (checksum included), not a fragment, unicast to the gateway's MAC (RFC 1122
    /// §3.3.6: a unicast datagram that arrived by link-layer broadcast is discarded), with the TCP service installed.
    /// </summary>
    private GatewayFrameClass Classify(ReadOnlySpan<byte> frame, out EthernetFrame eth, out Ipv4Packet ip, out TcpSegment tcp,
        out DropReason reason)
    {
        ip = default;
        tcp = default;
        if (!EthernetFrame.TryCreate(frame, out eth, out reason))
            return GatewayFrameClass.Refused;
        var broadcast = eth.Destination.IsBroadcast;
        if (eth.Destination != _net.GatewayMac && !broadcast)
            return Refuse(DropReason.UnknownUnicast, out reason);
        if (eth.EtherType == EtherType.Arp)
            return GatewayFrameClass.Arp;
        if (eth.EtherType != EtherType.Ipv4)
            return Refuse(DropReason.EthernetUnsupportedType, out reason);
        if (!Ipv4Packet.TryCreate(eth.Payload, out ip, out reason))
            return GatewayFrameClass.Refused;
        // No reassembly at the gateway: DHCP, ICMP echo and DNS fit one frame; TCP segments are sized by the MSS.
        if (ip.IsFragment)
            return Refuse(DropReason.Ipv4Fragment, out reason);
        if (ip.Protocol != IpProtocol.Tcp)
            return GatewayFrameClass.Ipv4;
        if (!TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out tcp, out reason))
            return GatewayFrameClass.Refused;
        if (broadcast)
            return Refuse(DropReason.TcpLinkBroadcast, out reason);
        if (!_hasTcp)
            return Refuse(DropReason.TcpNoHandler, out reason);
        return GatewayFrameClass.Tcp;
    }

    private static GatewayFrameClass Refuse(DropReason why, out DropReason reason)
    {
        reason = why;
        return GatewayFrameClass.Refused;
    }

    /// <summary>Hands the frame to <paramref name="service"/> if installed, otherwise counts <paramref name="otherwise"/>.</summary>
    private GatewayService Delegate(GatewayService service, DropReason otherwise)
    {
        if (_services.Contains(service)) return service;
        Drops.Increment(otherwise);
        return GatewayService.None;
    }

    private void ProcessArp(EthernetFrame eth, IFrameSink replies)
    {
        if (!ArpPacket.TryCreate(eth.Payload, out var arp, out var reason))
        {
            Drops.Increment(reason);
            return;
        }
        var target = arp.TargetProtocol;
        var forUs = target == _net.Gateway || target == _net.HostAlias;
        if (arp.Operation == ArpOperation.Request && forUs) Neighbors?.Learn(arp.SenderProtocol, arp.SenderHardware);
        else Neighbors?.Update(arp.SenderProtocol, arp.SenderHardware);
        if (arp.Operation != ArpOperation.Request)
        {
            Drops.Increment(DropReason.ArpNotRequest);
            return;
        }
        if (!forUs)
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

    /// <summary>An IPv4 packet other than TCP that <see cref="Classify"/> accepted (parsed, not a fragment).</summary>
    private GatewayService ProcessIpv4(EthernetFrame eth, Ipv4Packet ip, DateTimeOffset now, IFrameSink replies)
    {
        DropReason reason;
        var toGateway = ip.Destination == _net.Gateway;
        var broadcast = ip.Destination.IsLimitedBroadcast || ip.Destination == _net.DirectedBroadcast;
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp:
                if (!IcmpPacket.TryCreate(ip.Payload, out var icmp, out reason))
                {
                    Drops.Increment(reason);
                    return GatewayService.None;
                }
                if (!toGateway)
                {
                    return icmp.Type == IcmpType.EchoRequest && icmp.Code == 0 && !broadcast
                        ? Delegate(GatewayService.Icmp, DropReason.IcmpNotForGateway)
                        : Drop(DropReason.IcmpNotForGateway);
                }
                if (icmp.Type != IcmpType.EchoRequest || icmp.Code != 0)
                    return Drop(DropReason.IcmpUnsupportedType);
                ReplyEcho(eth.Source, ip.Source, icmp, replies);
                return GatewayService.None;
            case IpProtocol.Udp:
                if (!UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out reason))
                {
                    Drops.Increment(reason);
                    return GatewayService.None;
                }
                if ((toGateway || broadcast) && udp.DestinationPort == DhcpServerPort)
                {
                    ProcessDhcp(udp.Payload, now, replies);
                    return GatewayService.None;
                }
                if (toGateway && udp.DestinationPort == DnsPort)
                    return Delegate(GatewayService.Dns, DropReason.UdpNoListener);
                // Replies to a UDP port forward's datagrams (sent from .1:ephemeral), when that service is installed.
                if (toGateway && _services.Contains(GatewayService.UdpForward))
                    return GatewayService.UdpForward;
                if (toGateway || broadcast)
                    return Drop(DropReason.UdpNoListener);
                return Delegate(GatewayService.Udp, DropReason.Ipv4NotForGateway);
            default:
                return Drop(DropReason.Ipv4UnsupportedProtocol);
        }
    }

    private GatewayService Drop(DropReason reason)
    {
        Drops.Increment(reason);
        return GatewayService.None;
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
        if (answer.Message.MessageType == DhcpMessageType.Ack)
            Neighbors?.Learn(answer.Message.YourAddress, answer.Message.ClientHardwareAddress);
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
        var b = _pool.TryRent(length);
        if (b is null) Drops.Increment(DropReason.FramePoolExhausted);
        return b;
    }
}
