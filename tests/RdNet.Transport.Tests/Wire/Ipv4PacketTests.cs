using System.Buffers.Binary;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class Ipv4PacketTests
{
    private static byte[] CapturedPing => CapturedFrames.IpPacketOf(CapturedFrames.IcmpEchoRequest);

    private static void RewriteChecksum(byte[] packet)
    {
        int headerLength = (packet[0] & 0x0F) * 4;
        packet[10] = 0;
        packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), InternetChecksum.Compute(packet.AsSpan(0, headerLength)));
    }

    /// <summary>A packet with the given options (a multiple of 4 bytes) and 8 payload bytes, checksum correct.</summary>
    private static byte[] WithOptions(params byte[] options)
    {
        var packet = new byte[20 + options.Length + 8];
        Ipv4Header.Emit(packet, CapturedFrames.GuestIp, CapturedFrames.GatewayIp, IpProtocol.Udp, options.Length + 8);
        packet[0] = (byte)(0x40 | ((20 + options.Length) / 4));
        options.CopyTo(packet, 20);
        RewriteChecksum(packet);
        return packet;
    }

    private static DropReason Drop(ReadOnlySpan<byte> data)
    {
        Assert.False(Ipv4Packet.TryCreate(data, out _, out var reason));
        return reason;
    }

    [Fact]
    public void Decodes_every_header_field_of_a_captured_ping()
    {
        Assert.True(Ipv4Packet.TryCreate(CapturedPing, out var ip, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.Tos);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0x3bd2, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.Ttl);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(0x7f82, ip.HeaderChecksum);
        Assert.Equal(CapturedFrames.GuestIp, ip.Source);
        Assert.Equal(CapturedFrames.GatewayIp, ip.Destination);
        Assert.Equal(0, ip.Options.Length);
        Assert.Equal(20, ip.Header.Length);
        Assert.Equal(64, ip.Payload.Length);
    }

    [Fact]
    public void Emitting_the_captured_fields_reproduces_the_captured_header()
    {
        var header = new byte[20];
        int written = Ipv4Header.Emit(header, CapturedFrames.GuestIp, CapturedFrames.GatewayIp, IpProtocol.Icmp, 64,
            ttl: 64, identification: 0x3bd2, dontFragment: true);
        Assert.Equal(20, written);
        Assert.Equal(CapturedPing[..20], header);
    }

    [Property]
    public bool Headers_round_trip_through_emit_and_parse(uint src, uint dst, byte protocol, ushort length, byte ttl, ushort id, bool df)
    {
        int payloadLength = length % 1500;
        var packet = new byte[20 + payloadLength];
        Ipv4Header.Emit(packet, new Ipv4Address(src), new Ipv4Address(dst), protocol, payloadLength, ttl, id, df);
        return Ipv4Packet.TryCreate(packet, out var ip, out _)
               && ip.Source.Value == src && ip.Destination.Value == dst && ip.Protocol == protocol
               && ip.Payload.Length == payloadLength && ip.Ttl == ttl && ip.Identification == id
               && ip.DontFragment == df && !ip.IsFragment;
    }

    [Fact]
    public void Payload_ends_at_total_length_and_never_shows_ethernet_padding()
    {
        var padded = new byte[CapturedPing.Length + 10];
        CapturedPing.CopyTo(padded, 0);
        Array.Fill(padded, (byte)0xEE, CapturedPing.Length, 10);
        Assert.True(Ipv4Packet.TryCreate(padded, out var ip, out _));
        Assert.Equal(64, ip.Payload.Length);
        Assert.Equal(84, ip.Packet.Length);
        Assert.DoesNotContain((byte)0xEE, ip.Payload.ToArray());
    }

    [Fact]
    public void More_fragments_and_offsets_mark_a_fragment_with_the_offset_in_bytes()
    {
        var packet = CapturedPing;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), 0x2000 | 185); // MF, offset 185 × 8
        RewriteChecksum(packet);
        Assert.True(Ipv4Packet.TryCreate(packet, out var ip, out _));
        Assert.True(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(1480, ip.FragmentOffset);
        Assert.True(ip.IsFragment);
    }

    [Fact]
    public void Well_formed_options_are_accepted_and_exposed()
    {
        // NOP, record route (length 7, pointer 4, one empty slot), EOL
        var packet = WithOptions(0x01, 0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00, 0, 0, 0);
        Assert.True(Ipv4Packet.TryCreate(packet, out var ip, out _));
        Assert.Equal(32, ip.HeaderLength);
        Assert.Equal(12, ip.Options.Length);
        Assert.Equal(0x07, ip.Options[1]);
        Assert.Equal(8, ip.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(19)]
    public void Packets_shorter_than_20_bytes_are_dropped_as_truncated(int length) =>
        Assert.Equal(DropReason.Ipv4Truncated, Drop(CapturedPing.AsSpan(0, length)));

    [Theory]
    [InlineData(0x65)]
    [InlineData(0x05)]
    public void A_version_other_than_4_is_dropped(byte versionIhl)
    {
        var packet = CapturedPing;
        packet[0] = versionIhl;
        Assert.Equal(DropReason.Ipv4BadVersion, Drop(packet));
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x44)]
    public void A_header_length_below_five_words_is_dropped(byte versionIhl)
    {
        var packet = CapturedPing;
        packet[0] = versionIhl;
        Assert.Equal(DropReason.Ipv4HeaderLengthTooSmall, Drop(packet));
    }

    [Fact]
    public void A_header_length_past_the_buffer_is_dropped()
    {
        var packet = CapturedPing[..40];
        packet[0] = 0x4F; // 60-byte header in a 40-byte buffer
        Assert.Equal(DropReason.Ipv4HeaderPastBuffer, Drop(packet));
    }

    [Fact]
    public void A_total_length_shorter_than_the_header_is_dropped()
    {
        var packet = CapturedPing;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), 19);
        RewriteChecksum(packet);
        Assert.Equal(DropReason.Ipv4TotalLengthTooSmall, Drop(packet));
    }

    [Fact]
    public void A_total_length_past_the_buffer_is_dropped()
    {
        var packet = CapturedPing[..83];
        Assert.Equal(DropReason.Ipv4TotalLengthPastBuffer, Drop(packet));
    }

    [Fact]
    public void A_wrong_header_checksum_is_dropped()
    {
        var packet = CapturedPing;
        packet[8] = 63; // TTL changed without updating the checksum
        Assert.Equal(DropReason.Ipv4BadHeaderChecksum, Drop(packet));
    }

    [Theory]
    [InlineData(new byte[] { 0x07, 0x00, 0x00, 0x00 })] // length 0
    [InlineData(new byte[] { 0x07, 0x01, 0x00, 0x00 })] // length 1
    [InlineData(new byte[] { 0x07, 0x08, 0x04, 0x00 })] // runs past the header
    [InlineData(new byte[] { 0x01, 0x01, 0x01, 0x07 })] // length octet missing
    public void Malformed_options_are_dropped(byte[] options) =>
        Assert.Equal(DropReason.Ipv4BadOptions, Drop(WithOptions(options)));
}
