using RdNet.Transport.Icmp;
using RdNet.Transport.Udp;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Nat;

public sealed class NatFramesTests
{
    private static readonly MacAddress GuestMac = new(0x5a94_efe4_0cee);
    private static readonly MacAddress GatewayMac = new(0x5a94_efe4_0cdd);
    private static readonly Ipv4Address Guest = Ipv4Address.Parse("192.168.127.2");
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("192.168.127.254");

    [Fact]
    public void A_udp_reply_frame_parses_back_with_valid_checksums_and_every_byte_written()
    {
        var buf = new byte[200];
        Array.Fill(buf, (byte)0xAA); // stale bytes must not survive in the frame
        var n = NatFrames.WriteUdp(buf, GuestMac, GatewayMac, Remote, 5353, Guest, 40000, "hello"u8, 7);
        Assert.Equal(NatFrames.UdpOverhead + 5, n);
        Assert.True(EthernetFrame.TryCreate(buf.AsSpan(0, n), out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.Equal(GatewayMac, eth.Source);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out var r), r.ToString());
        Assert.Equal(n - EthernetFrame.HeaderLength, ip.TotalLength);
        Assert.Equal(Remote, ip.Source);
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out r), r.ToString());
        Assert.Equal(5353, udp.SourcePort);
        Assert.Equal(40000, udp.DestinationPort);
        Assert.Equal("hello"u8.ToArray(), udp.Payload.ToArray());
    }

    [Fact]
    public void A_port_unreachable_quotes_the_ip_header_and_first_eight_bytes_with_a_valid_checksum()
    {
        var original = new byte[20 + 8 + 30];
        UdpHeader.Emit(original.AsSpan(20), Guest, Remote, 40000, 9, 30);
        Ipv4Header.Emit(original, Guest, Remote, IpProtocol.Udp, 38);
        Assert.True(Ipv4Packet.TryCreate(original, out var packet, out _));
        var quote = new byte[NatFrames.MaxQuoteLength];
        var q = NatFrames.Quote(packet, quote);
        Assert.Equal(28, q);

        var buf = new byte[200];
        Array.Fill(buf, (byte)0xAA);
        var n = NatFrames.WriteUnreachable(buf, GuestMac, GatewayMac, Remote, Guest, 3, quote.AsSpan(0, q), 1);
        Assert.Equal(NatFrames.UnreachableLength(q), n);
        Assert.True(EthernetFrame.TryCreate(buf.AsSpan(0, n), out var eth, out _));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.True(IcmpPacket.TryCreate(ip.Payload, out var icmp, out var r), r.ToString());
        Assert.Equal(IcmpType.DestinationUnreachable, icmp.Type);
        Assert.Equal(3, icmp.Code);
        Assert.Equal([0, 0, 0, 0], icmp.Rest.ToArray()[..4]);
        Assert.Equal(original.AsSpan(0, 28).ToArray(), icmp.Data.ToArray());
    }

    [Fact]
    public void An_echo_reply_carries_the_guests_identifier_sequence_and_data_from_the_pinged_address()
    {
        var echo = new PendingEcho(GuestMac, Guest, Remote, Ipv4Address.Loopback, 0xBEEF, 42, [1, 2, 3]);
        var buf = new byte[100];
        var n = EchoFrames.WriteReply(buf, GatewayMac, echo, 9);
        Assert.True(EthernetFrame.TryCreate(buf.AsSpan(0, n), out var eth, out _));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(Remote, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(IcmpPacket.TryCreate(ip.Payload, out var icmp, out _));
        Assert.Equal(IcmpType.EchoReply, icmp.Type);
        Assert.Equal(0xBEEF, icmp.Identifier);
        Assert.Equal(42, icmp.SequenceNumber);
        Assert.Equal([1, 2, 3], icmp.Data.ToArray());
    }
}
