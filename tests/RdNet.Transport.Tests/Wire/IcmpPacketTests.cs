using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class IcmpPacketTests
{
    private static byte[] CapturedEcho => CapturedFrames.IpPayloadOf(CapturedFrames.IcmpEchoRequest);

    [Fact]
    public void Decodes_a_captured_echo_request()
    {
        Assert.True(IcmpPacket.TryCreate(CapturedEcho, out var icmp, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(IcmpType.EchoRequest, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x843c, icmp.Checksum);
        Assert.Equal(0x0c2f, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        Assert.Equal(56, icmp.Data.Length);
        Assert.Equal(60, icmp.Rest.Length);
        Assert.Equal(0x3f, icmp.Data[^1]);
    }

    [Fact]
    public void Emitting_the_captured_fields_reproduces_the_captured_bytes()
    {
        var echo = CapturedEcho;
        var emitted = new byte[echo.Length];
        int length = IcmpEcho.Emit(emitted, IcmpType.EchoRequest, 0x0c2f, 1, echo.AsSpan(8));
        Assert.Equal(echo.Length, length);
        Assert.Equal(echo, emitted);
    }

    [Fact]
    public void A_reply_can_be_built_in_place_over_the_request()
    {
        var buffer = CapturedEcho;
        var data = buffer[8..];
        Assert.True(IcmpPacket.TryCreate(buffer, out var request, out _));
        ushort id = request.Identifier, seq = request.SequenceNumber;
        IcmpEcho.Emit(buffer, IcmpType.EchoReply, id, seq, buffer.AsSpan(8));
        Assert.True(IcmpPacket.TryCreate(buffer, out var reply, out _));
        Assert.Equal(IcmpType.EchoReply, reply.Type);
        Assert.Equal(data, reply.Data.ToArray());
    }

    [Property]
    public bool Echo_messages_round_trip_with_any_data_length(bool request, ushort id, ushort seq, byte[] data)
    {
        var buffer = new byte[8 + data.Length];
        byte type = request ? IcmpType.EchoRequest : IcmpType.EchoReply;
        int length = IcmpEcho.Emit(buffer, type, id, seq, data);
        return length == buffer.Length
               && IcmpPacket.TryCreate(buffer, out var icmp, out _)
               && icmp.Type == type && icmp.Identifier == id && icmp.SequenceNumber == seq
               && icmp.Data.SequenceEqual(data);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(7)]
    public void Messages_shorter_than_8_bytes_are_dropped_as_truncated(int length)
    {
        Assert.False(IcmpPacket.TryCreate(CapturedEcho.AsSpan(0, length), out _, out var reason));
        Assert.Equal(DropReason.IcmpTruncated, reason);
    }

    [Fact]
    public void A_wrong_checksum_is_dropped()
    {
        var echo = CapturedEcho;
        echo[^1] ^= 0x01;
        Assert.False(IcmpPacket.TryCreate(echo, out _, out var reason));
        Assert.Equal(DropReason.IcmpBadChecksum, reason);
    }

    [Theory]
    [InlineData(IcmpType.DestinationUnreachable, true)]
    [InlineData(IcmpType.TimeExceeded, true)]
    [InlineData(IcmpType.ParameterProblem, true)]
    [InlineData(IcmpType.Redirect, true)]
    [InlineData(IcmpType.SourceQuench, true)]
    [InlineData(IcmpType.EchoRequest, false)]
    [InlineData(IcmpType.EchoReply, false)]
    public void Error_types_are_recognised_so_no_error_is_sent_about_an_error(byte type, bool isError) =>
        Assert.Equal(isError, IcmpType.IsError(type));
}
