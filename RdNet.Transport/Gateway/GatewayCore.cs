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

    public GatewayCore(VirtualNetwork network, DhcpServer dhcp, FramePool pool, DropCounters drops, IReadOnlySet<GatewayService>? services = null)
    {
        _net = network;
        _dhcp = dhcp;
        _pool = pool;
        Drops = drops;
        _services = services ?? new HashSet<GatewayService>();
        _hasTcp = _services.Contains(GatewayService.Tcp);
    }

    public DropCounters Drops { get; }

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
        if (!EthernetFrame.TryCreate(frame, out var eth, out var reason))
        {
            Drops.Increment(reason);
            return GatewayService.None;
        }
        if (eth.Destination != _net.GatewayMac && !eth.Destination.IsBroadcast)
        {
            Drops.Increment(DropReason.UnknownUnicast);
            return GatewayService.None;
        }
        switch (eth.EtherType)
        {
            case EtherType.Arp:
                ProcessArp(eth, replies);
                return GatewayService.None;
            case EtherType.Ipv4:
                return ProcessIpv4(eth, now, replies);
            default:
                Drops.Increment(DropReason.EthernetUnsupportedType);
                return GatewayService.None;
        }
    }

    /// <summary>
    /// The fast path's test, safe on any thread (it reads only settings fixed at construction): whether
    /// <paramref name="frame"/> is a valid TCP segment for the installed TCP service — unicast to the gateway's MAC,
    /// IPv4, not a fragment, TCP checksum correct — and its 4-tuple. Exactly the frames <see cref="Process"/> would
    /// hand to <see cref="GatewayService.Tcp"/>; anything else returns false and nothing is counted, so the caller
    /// gives the frame to <see cref="Process"/>, which answers or counts it.
    /// </summary>
    public bool TryReadTcpFlow(ReadOnlySpan<byte> frame, out Ipv4Address source, out ushort sourcePort, out Ipv4Address destination, out ushort destinationPort)
    {
        source = destination = default;
        sourcePort = destinationPort = 0;
        if (!_hasTcp
            || !EthernetFrame.TryCreate(frame, out var eth, out _)
            || eth.EtherType != EtherType.Ipv4 || eth.Destination != _net.GatewayMac
            || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out _)
            || ip.IsFragment || ip.Protocol != IpProtocol.Tcp
            || !TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out var tcp, out _))
            return false;
        source = ip.Source;
        destination = ip.Destination;
        sourcePort = tcp.SourcePort;
        destinationPort = tcp.DestinationPort;
        return true;
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

    private GatewayService ProcessIpv4(EthernetFrame eth, DateTimeOffset now, IFrameSink replies)
    {
        if (!Ipv4Packet.TryCreate(eth.Payload, out var ip, out var reason))
        {
            Drops.Increment(reason);
            return GatewayService.None;
        }
        if (ip.IsFragment)
        {
            // No reassembly at the gateway: DHCP, ICMP echo and (later) DNS fit one frame at MTU 1500.
            Drops.Increment(DropReason.Ipv4Fragment);
            return GatewayService.None;
        }
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
            case IpProtocol.Tcp:
                if (!TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out _, out reason))
                {
                    Drops.Increment(reason);
                    return GatewayService.None;
                }
                return Delegate(GatewayService.Tcp, DropReason.TcpNoHandler);
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
