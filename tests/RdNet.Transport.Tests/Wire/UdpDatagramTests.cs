using System.Buffers.Binary;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class UdpDatagramTests
{
    private static byte[] CapturedDns => CapturedFrames.IpPayloadOf(CapturedFrames.UdpDnsQuery);
    private static readonly Ipv4Address Src = CapturedFrames.GuestIp;
    private static readonly Ipv4Address Dst = CapturedFrames.GatewayIp;

    private static DropReason Drop(ReadOnlySpan<byte> data)
    {
        Assert.False(UdpDatagram.TryCreate(data, Src, Dst, out _, out var reason));
        return reason;
    }

    [Fact]
    public void Decodes_a_captured_dns_query()
    {
        Assert.True(UdpDatagram.TryCreate(CapturedDns, Src, Dst, out var udp, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(53412, udp.SourcePort);
        Assert.Equal(53, udp.DestinationPort);
        Assert.Equal(37, udp.Length);
        Assert.Equal(0xc5dc, udp.Checksum);
        Assert.Equal(29, udp.Payload.Length);
        Assert.Equal(0x1a, udp.Payload[0]);
    }

    [Fact]
    public void Emitting_around_the_captured_payload_reproduces_the_captured_bytes()
    {
        var captured = CapturedDns;
        var datagram = new byte[captured.Length];
        captured.AsSpan(8).CopyTo(datagram.AsSpan(8));
        int length = UdpHeader.Emit(datagram, Src, Dst, 53412, 53, captured.Length - 8);
        Assert.Equal(captured.Length, length);
        Assert.Equal(captured, datagram);
    }

    [Property]
    public bool Datagrams_round_trip_through_emit_and_parse(uint src, uint dst, ushort sport, ushort dport, byte[] payload)
    {
        var datagram = new byte[8 + payload.Length];
        payload.CopyTo(datagram, 8);
        int length = UdpHeader.Emit(datagram, new Ipv4Address(src), new Ipv4Address(dst), sport, dport, payload.Length);
        return length == datagram.Length
               && UdpDatagram.TryCreate(datagram, new Ipv4Address(src), new Ipv4Address(dst), out var udp, out _)
               && udp.Checksum != 0 && udp.SourcePort == sport && udp.DestinationPort == dport
               && udp.Payload.SequenceEqual(payload);
    }

    [Fact]
    public void A_computed_checksum_of_zero_is_sent_as_all_ones()
    {
        // Setting a payload word to the checksum computed with that word zero makes the whole datagram
        // sum to 0xFFFF, so the checksum computed next is 0 and must go out as 0xFFFF.
        var datagram = new byte[10];
        UdpHeader.Emit(datagram, Src, Dst, 1, 2, 2);
        ushort checksumWithZeroWord = BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(8), checksumWithZeroWord);
        UdpHeader.Emit(datagram, Src, Dst, 1, 2, 2);
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)));
        Assert.True(UdpDatagram.TryCreate(datagram, Src, Dst, out _, out _));
    }

    [Fact]
    public void A_zero_checksum_means_none_and_is_accepted()
    {
        var datagram = CapturedDns;
        datagram[6] = 0;
        datagram[7] = 0;
        Assert.True(UdpDatagram.TryCreate(datagram, Src, Dst, out var udp, out _));
        Assert.Equal(0, udp.Checksum);
    }

    [Fact]
    public void Payload_ends_at_the_udp_length_even_when_the_ip_payload_is_longer()
    {
        var longer = new byte[CapturedDns.Length + 5];
        CapturedDns.CopyTo(longer, 0);
        Assert.True(UdpDatagram.TryCreate(longer, Src, Dst, out var udp, out _));
        Assert.Equal(29, udp.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Datagrams_shorter_than_8_bytes_are_dropped_as_truncated(int length) =>
        Assert.Equal(DropReason.UdpTruncated, Drop(CapturedDns.AsSpan(0, length)));

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void A_length_field_below_8_is_dropped(ushort length)
    {
        var datagram = CapturedDns;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), length);
        Assert.Equal(DropReason.UdpLengthTooSmall, Drop(datagram));
    }

    [Fact]
    public void A_length_field_past_the_ip_payload_is_dropped() =>
        Assert.Equal(DropReason.UdpLengthPastPayload, Drop(CapturedDns.AsSpan(0, 36)));

    [Fact]
    public void A_wrong_checksum_is_dropped()
    {
        var datagram = CapturedDns;
        datagram[^1] ^= 0x80;
        Assert.Equal(DropReason.UdpBadChecksum, Drop(datagram));
    }

    [Fact]
    public void A_checksum_for_other_addresses_is_dropped()
    {
        Assert.False(UdpDatagram.TryCreate(CapturedDns, Src, CapturedFrames.WebServerIp, out _, out var reason));
        Assert.Equal(DropReason.UdpBadChecksum, reason);
    }
}
