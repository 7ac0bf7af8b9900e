using RdNet.Transport.Diagnostics;
using RdNet.Transport.Framing;

namespace RdNet.Transport.Tests.Framing;

public class FrameCodecTests
{
    [Fact]
    public void A_prefix_is_two_bytes_little_endian_counting_the_frame_only()
    {
        var frame = new byte[300];
        frame[0] = 0xAB;
        var buf = new byte[302];
        Assert.Equal(302, FrameCodec.Encode(buf, frame));
        Assert.Equal(0x2C, buf[0]); // 300 = 0x012C, little-endian
        Assert.Equal(0x01, buf[1]);
        Assert.Equal(0xAB, buf[2]);
    }

    [Fact]
    public void A_complete_prefix_yields_the_frame_length()
    {
        Assert.True(FrameCodec.TryReadLength([0xEA, 0x05], 4000, out var n, out var reason));
        Assert.Equal(1514, n);
        Assert.Equal(DropReason.None, reason);
    }

    [Fact]
    public void Fewer_than_two_bytes_is_not_an_error_but_needs_more_data()
    {
        Assert.False(FrameCodec.TryReadLength([0x05], 4000, out _, out var reason));
        Assert.Equal(DropReason.None, reason);
    }

    [Theory]
    [InlineData(0x00, 0x00, DropReason.FrameLengthZero)]
    [InlineData(0xFF, 0xFF, DropReason.FrameLengthTooLarge)]
    [InlineData(0xA1, 0x0F, DropReason.FrameLengthTooLarge)] // 4001
    public void A_zero_or_oversized_prefix_is_rejected_with_a_reason(byte lo, byte hi, DropReason expected)
    {
        Assert.False(FrameCodec.TryReadLength([lo, hi], 4000, out _, out var reason));
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void The_configured_maximum_itself_is_accepted()
    {
        Assert.True(FrameCodec.TryReadLength([0xA0, 0x0F], 4000, out var n, out _));
        Assert.Equal(4000, n);
    }

    [Fact]
    public void Encoding_an_empty_frame_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameCodec.Encode(new byte[10], ReadOnlySpan<byte>.Empty));
    }
}
