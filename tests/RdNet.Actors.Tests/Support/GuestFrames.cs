using RdNet.Transport.Wire;

namespace RdNet.Actors.Tests.Support;

/// <summary>Frames a guest would send, built with the wire emitters (correct checksums unless a test breaks them).</summary>
public static class GuestFrames
{
    public static readonly MacAddress GatewayMac = new(0x5a94_efe4_0cdd);
    public static readonly MacAddress GuestMac = new(0x5a94_efe4_0cee);
    public static readonly Ipv4Address Gateway = Ipv4Address.Parse("192.168.127.1");
    public static readonly Ipv4Address Guest = Ipv4Address.Parse("192.168.127.2");

    public static byte[] Ethernet(MacAddress dst, MacAddress src, ushort type, ReadOnlySpan<byte> payload)
    {
        var f = new byte[EthernetFrame.HeaderLength + payload.Length];
        EthernetFrame.WriteHeader(f, dst, src, type);
        payload.CopyTo(f.AsSpan(EthernetFrame.HeaderLength));
        return f;
    }

    public static byte[] ArpRequest(MacAddress src, Ipv4Address srcIp, Ipv4Address target)
    {
        var arp = new byte[ArpMessage.EncodedLength];
        new ArpMessage(ArpOperation.Request, src, srcIp, MacAddress.Zero, target).Emit(arp);
        return Ethernet(MacAddress.Broadcast, src, EtherType.Arp, arp);
    }

    public static byte[] Ipv4(MacAddress srcMac, MacAddress dstMac, Ipv4Address src, Ipv4Address dst, byte protocol, ReadOnlySpan<byte> l4)
    {
        var ip = new byte[20 + l4.Length];
        l4.CopyTo(ip.AsSpan(20));
        Ipv4Header.Emit(ip, src, dst, protocol, l4.Length);
        return Ethernet(dstMac, srcMac, EtherType.Ipv4, ip);
    }

    public static byte[] TcpFrame(MacAddress srcMac, MacAddress dstMac, Ipv4Address src, Ipv4Address dst, ushort sport, ushort dport,
        TcpFlags flags, ReadOnlySpan<byte> payload, uint seq = 1000, uint ack = 0)
    {
        var tcp = new byte[TcpSegment.MinHeaderLength + payload.Length];
        payload.CopyTo(tcp.AsSpan(TcpSegment.MinHeaderLength));
        TcpHeader.Emit(tcp, src, dst, sport, dport, seq, ack, flags, 65535, TcpOptions.None, payload.Length);
        return Ipv4(srcMac, dstMac, src, dst, IpProtocol.Tcp, tcp);
    }

    public static byte[] Udp(MacAddress srcMac, MacAddress dstMac, Ipv4Address src, Ipv4Address dst, ushort sport, ushort dport, ReadOnlySpan<byte> payload)
    {
        var udp = new byte[8 + payload.Length];
        payload.CopyTo(udp.AsSpan(8));
        UdpHeader.Emit(udp, src, dst, sport, dport, payload.Length);
        return Ipv4(srcMac, dstMac, src, dst, IpProtocol.Udp, udp);
    }

    public static byte[] EchoRequest(Ipv4Address dst, ushort id, ushort seq, ReadOnlySpan<byte> data)
    {
        var icmp = new byte[8 + data.Length];
        IcmpEcho.Emit(icmp, IcmpType.EchoRequest, id, seq, data);
        return Ipv4(GuestMac, GatewayMac, Guest, dst, IpProtocol.Icmp, icmp);
    }

    public static byte[] DhcpDiscover(MacAddress mac, uint xid)
    {
        var msg = new DhcpMessage
        {
            TransactionId = xid,
            ClientHardwareAddress = mac,
            MessageType = DhcpMessageType.Discover,
            ParameterRequestList = [1, 3, 6, 26],
        };
        var payload = new byte[msg.EncodedLength];
        msg.Emit(payload);
        return Udp(mac, MacAddress.Broadcast, Ipv4Address.Any, Ipv4Address.Broadcast, 68, 67, payload);
    }

    public static bool IsEthernetType(byte[] f, ushort type) =>
        EthernetFrame.TryCreate(f, out var e, out _) && e.EtherType == type;
}
