using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;
using static RdNet.Transport.Tests.Tcp.T;

namespace RdNet.Transport.Tests.Tcp;

/// <summary>
/// RELIABILITY row 10, the urgent pointer: whatever URG and its pointer say, the segment's bytes are delivered in line
/// and acknowledged, the stream after it goes on (no desync), and a mark that names no byte of the segment is a
/// counted drop of the mark (RFC 9293 §3.8.5: the pointer is the offset of the byte after the urgent data).
/// </summary>
public class TcpUrgentPointerTests
{
    public static TheoryData<string, int, ushort, bool, DropReason?> Cases => new()
    {
        // name, payload length, urgent pointer, FIN, counted reason (null: a valid mark, nothing counted)
        { "urgent data ends with the segment", 10, 10, false, null },
        { "urgent data ends inside the segment", 10, 3, false, null },
        { "one urgent byte", 1, 1, false, null },
        { "pointer zero", 10, 0, false, DropReason.TcpUrgentPointerZero },
        { "pointer zero on a pure ack", 0, 0, false, DropReason.TcpUrgentPointerZero },
        { "pointer one past the data", 10, 11, false, DropReason.TcpUrgentPointerPastData },
        { "pointer at the maximum", 10, ushort.MaxValue, false, DropReason.TcpUrgentPointerPastData },
        { "pointer on a pure ack", 0, 1, false, DropReason.TcpUrgentPointerPastData },
        { "pointer past the receive window", 100, 60_000, false, DropReason.TcpUrgentPointerPastData },
        { "pointer past the data with fin", 10, 500, true, DropReason.TcpUrgentPointerPastData },
        { "valid pointer with fin", 10, 10, true, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void An_urgent_segment_is_delivered_in_line_and_only_a_pointer_naming_no_byte_of_it_is_counted(
        string name, int length, ushort pointer, bool fin, DropReason? reason)
    {
        var (c, o, drops, peer, us) = Established(new TcpConfig { ReceiveBufferSize = 50_000 });
        var data = Bytes(length, seed: length + pointer);
        var flags = TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Psh | (fin ? TcpFlags.Fin : 0);
        var r = c.Receive(new TcpSegmentIn(peer, us, flags, 65535, default, data, pointer), 10, o);
        Assert.Equal(TcpInputResult.Accepted, r);
        c.Poll(10, o);
        var sent = o.Take();
        if (length > 0 || fin) Assert.Equal(peer + length + (fin ? 1 : 0), sent.Last().Ack);
        else Assert.Empty(sent); // a pure ACK is not acknowledged, URG or not
        Assert.Equal(fin ? TcpState.CloseWait : TcpState.Established, c.State);

        var got = new byte[length];
        Assert.Equal(length, c.Read(got));
        Assert.Equal(data, got);

        foreach (var counted in new[] { DropReason.TcpUrgentPointerZero, DropReason.TcpUrgentPointerPastData })
            Assert.Equal(counted == reason ? 1 : 0, drops[counted]);

        if (!fin)
        {
            // The stream goes on right after the urgent segment: nothing was skipped or held back.
            var next = Bytes(20, seed: 99);
            c.Receive(Ack(peer + length, us, 65535, data: next), 11, o);
            c.Poll(11, o);
            Assert.Equal(peer + length + 20, o.Take().Last().Ack);
            var more = new byte[20];
            Assert.Equal(20, c.Read(more));
            Assert.Equal(next, more);
        }
        Assert.NotNull(name);
    }

    [Fact]
    public void An_urgent_segment_that_arrives_out_of_order_is_held_and_delivered_in_line_when_the_hole_fills()
    {
        var (c, o, drops, peer, us) = Established(new TcpConfig { ReceiveBufferSize = 50_000 });
        var data = Bytes(300, seed: 7);
        c.Receive(new TcpSegmentIn(peer + 100, us, TcpFlags.Ack | TcpFlags.Urg, 65535, default, data.AsSpan(100, 200), 40_000), 10, o);
        Assert.Equal(peer, o.Take().Last().Ack); // a duplicate ACK for the hole
        Assert.Equal(0, c.ReceivedCount);
        c.Receive(Ack(peer, us, 65535, data: data[..100]), 11, o);
        c.Poll(11, o);
        Assert.Equal(peer + 300, o.Take().Last().Ack);
        var got = new byte[300];
        Assert.Equal(300, c.Read(got));
        Assert.Equal(data, got);
        Assert.Equal(1, drops[DropReason.TcpUrgentPointerPastData]);
    }

    [Fact]
    public void An_urgent_segment_outside_the_window_is_answered_and_counted_as_outside_the_window_only()
    {
        var (c, o, drops, peer, us) = Established(new TcpConfig { ReceiveBufferSize = 4096 });
        c.Receive(new TcpSegmentIn(peer + 10_000, us, TcpFlags.Ack | TcpFlags.Urg, 65535, default, Bytes(10), 0), 10, o);
        Assert.Equal(peer, o.Single().Ack);
        Assert.Equal(1, drops[DropReason.TcpOutsideWindow]);
        Assert.Equal(0, drops[DropReason.TcpUrgentPointerZero]);
        Assert.Equal(0, c.ReceivedCount);
    }

    [Fact]
    public void The_urgent_pointer_of_a_parsed_segment_reaches_the_connection()
    {
        var buf = new byte[64];
        var payload = "abcd"u8;
        payload.CopyTo(buf.AsSpan(TcpSegment.MinHeaderLength));
        int len = TcpHeader.Emit(buf, Ipv4Address.Parse("192.168.127.2"), Ipv4Address.Parse("192.168.127.254"), 40000, 80,
            1000, 2000, TcpFlags.Ack | TcpFlags.Urg, 512, default, payload.Length);
        BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(18), 0x1234); // RFC 9293 §3.1: urgent pointer at offset 18
        Assert.True(TcpSegment.TryCreateVerified(buf.AsSpan(0, len), out var view));
        var seg = TcpSegmentIn.From(view);
        Assert.Equal((ushort)0x1234, seg.UrgentPointer);
        Assert.True(seg.Has(TcpFlags.Urg));
        Assert.Equal(payload.ToArray(), seg.Payload.ToArray());
    }
}
