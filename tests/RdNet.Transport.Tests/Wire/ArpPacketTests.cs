using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class ArpPacketTests
{
    private static byte[] CapturedArp => CapturedFrames.ArpRequest[14..];

    [Fact]
    public void Decodes_a_captured_who_has_request()
    {
        Assert.True(ArpPacket.TryCreate(CapturedArp, out var arp, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(CapturedFrames.GuestMac, arp.SenderHardware);
        Assert.Equal(CapturedFrames.GuestIp, arp.SenderProtocol);
        Assert.Equal(MacAddress.Zero, arp.TargetHardware);
        Assert.Equal(CapturedFrames.GatewayIp, arp.TargetProtocol);
    }

    [Fact]
    public void Emitting_the_parsed_message_reproduces_the_captured_bytes_without_padding()
    {
        Assert.True(ArpPacket.TryCreate(CapturedArp, out var arp, out _));
        var message = ArpMessage.Parse(arp);
        var emitted = new byte[ArpMessage.EncodedLength];
        message.Emit(emitted);
        Assert.Equal(CapturedArp[..28], emitted);
    }

    [Property]
    public bool Messages_round_trip_through_emit_and_parse(ushort operation, ulong sha, uint spa, ulong tha, uint tpa)
    {
        var message = new ArpMessage(operation, new MacAddress(sha & 0xFFFF_FFFF_FFFF), new Ipv4Address(spa),
            new MacAddress(tha & 0xFFFF_FFFF_FFFF), new Ipv4Address(tpa));
        var buffer = new byte[ArpMessage.EncodedLength];
        message.Emit(buffer);
        return ArpPacket.TryCreate(buffer, out var view, out _) && ArpMessage.Parse(view) == message;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(27)]
    public void Packets_shorter_than_28_bytes_are_dropped_as_truncated(int length)
    {
        Assert.False(ArpPacket.TryCreate(CapturedArp.AsSpan(0, length), out _, out var reason));
        Assert.Equal(DropReason.ArpTruncated, reason);
    }

    [Theory]
    [InlineData(0, 0x00)] // htype high byte: 6 (IEEE 802) instead of 1
    [InlineData(4, 0x08)] // hlen 8
    public void Non_ethernet_hardware_is_dropped_as_unsupported(int offset, byte value)
    {
        var packet = CapturedArp;
        packet[offset] = value;
        if (offset == 0) packet[1] = 6;
        Assert.False(ArpPacket.TryCreate(packet, out _, out var reason));
        Assert.Equal(DropReason.ArpUnsupportedHardware, reason);
    }

    [Theory]
    [InlineData(2, 0x86)] // ptype 0x86DD
    [InlineData(5, 0x10)] // plen 16
    public void Non_ipv4_protocol_addresses_are_dropped_as_unsupported(int offset, byte value)
    {
        var packet = CapturedArp;
        packet[offset] = value;
        if (offset == 2) packet[3] = 0xDD;
        Assert.False(ArpPacket.TryCreate(packet, out _, out var reason));
        Assert.Equal(DropReason.ArpUnsupportedProtocol, reason);
    }
}
