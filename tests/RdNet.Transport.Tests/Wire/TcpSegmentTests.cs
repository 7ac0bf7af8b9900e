using System.Buffers.Binary;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class TcpSegmentTests
{
    private static byte[] CapturedSyn => CapturedFrames.IpPayloadOf(CapturedFrames.TcpSyn);
    private static readonly Ipv4Address Src = CapturedFrames.GuestIp;
    private static readonly Ipv4Address Dst = CapturedFrames.WebServerIp;

    private static readonly TcpOptions LinuxSynOptions = new(Mss: 1460, WindowScale: 7, SackPermitted: true, TsVal: 703710, TsEcr: 0);

    /// <summary>A segment with raw option bytes (a multiple of 4) and a correct checksum.</summary>
    private static byte[] SegmentWithOptions(params byte[] options)
    {
        var segment = new byte[20 + options.Length];
        TcpHeader.Emit(segment, Src, Dst, 45678, 80, 1, 0, TcpFlags.Syn, 1024, TcpOptions.None, 0);
        segment[12] = (byte)(((20 + options.Length) / 4) << 4);
        options.CopyTo(segment, 20);
        FixChecksum(segment);
        return segment;
    }

    private static void FixChecksum(byte[] segment)
    {
        segment[16] = 0;
        segment[17] = 0;
        ushort checksum = InternetChecksum.Fold(
            InternetChecksum.Add(InternetChecksum.PseudoHeader(Src, Dst, IpProtocol.Tcp, segment.Length), segment));
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(16), checksum);
    }

    private static DropReason Drop(ReadOnlySpan<byte> data)
    {
        Assert.False(TcpSegment.TryCreate(data, Src, Dst, out _, out var reason));
        return reason;
    }

    [Fact]
    public void Decodes_a_captured_linux_syn_with_all_its_options()
    {
        Assert.True(TcpSegment.TryCreate(CapturedSyn, Src, Dst, out var tcp, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(45678, tcp.SourcePort);
        Assert.Equal(80, tcp.DestinationPort);
        Assert.Equal(0x12345678u, tcp.SequenceNumber);
        Assert.Equal(0u, tcp.AcknowledgmentNumber);
        Assert.Equal(40, tcp.DataOffset);
        Assert.Equal(TcpFlags.Syn, tcp.Flags);
        Assert.Equal(64240, tcp.Window);
        Assert.Equal(0xff35, tcp.Checksum);
        Assert.Equal(0, tcp.UrgentPointer);
        Assert.Equal(20, tcp.OptionsBytes.Length);
        Assert.Equal(0, tcp.Payload.Length);
        Assert.Equal(LinuxSynOptions, tcp.Options);
    }

    [Fact]
    public void Emitting_the_captured_fields_reproduces_the_captured_syn()
    {
        var segment = new byte[40];
        int length = TcpHeader.Emit(segment, Src, Dst, 45678, 80, 0x12345678, 0, TcpFlags.Syn, 64240, LinuxSynOptions, 0);
        Assert.Equal(40, length);
        Assert.Equal(CapturedSyn, segment);
    }

    [Fact]
    public void Options_without_timestamps_use_nop_padding_and_stay_aligned()
    {
        var options = new TcpOptions(1460, 7, true, null, null);
        var bytes = new byte[options.EncodedLength];
        Assert.Equal(12, options.Emit(bytes));
        Assert.Equal(Convert.FromHexString("020405b4" + "01010402" + "01030307"), bytes);
    }

    [Fact]
    public void Sack_blocks_are_decoded_in_order()
    {
        var segment = SegmentWithOptions(Convert.FromHexString("0101" + "0512" + "00000064000000c8" + "0000012c00000190"));
        Assert.True(TcpSegment.TryCreate(segment, Src, Dst, out var tcp, out _));
        var sack = tcp.Options.Sack;
        Assert.Equal(2, sack.Count);
        Assert.Equal(new SackBlock(100, 200), sack[0]);
        Assert.Equal(new SackBlock(300, 400), sack[1]);
    }

    [Fact]
    public void Sack_blocks_that_do_not_fit_beside_timestamps_are_left_out()
    {
        var blocks = SackBlocks.Create([new(1, 2), new(3, 4), new(5, 6), new(7, 8)]);
        var options = new TcpOptions(null, null, false, 1, 2, blocks);
        Assert.Equal(3, options.EmittedSackCount);
        Assert.Equal(TcpOptions.MaxLength, options.EncodedLength);
        var bytes = new byte[options.EncodedLength];
        options.Emit(bytes);
        Assert.True(TcpOptions.TryParse(bytes, out var parsed, out _));
        Assert.Equal(3, parsed.Sack.Count);
        Assert.Equal(new SackBlock(5, 6), parsed.Sack[2]);
    }

    [Fact]
    public void Unknown_options_are_skipped_by_their_length()
    {
        // kind 30 (MPTCP) length 4, then MSS
        Assert.True(TcpOptions.TryParse(Convert.FromHexString("1e040000" + "020405b4"), out var options, out _));
        Assert.Equal((ushort)1460, options.Mss);
    }

    [Property]
    public bool Options_round_trip_through_emit_and_parse(bool hasMss, ushort mss, bool hasWs, byte ws, bool sackOk,
        bool hasTs, uint tsVal, uint tsEcr, byte sackCount, uint edge)
    {
        int n = sackCount % (hasTs ? 4 : 5);
        var blocks = new SackBlock[n];
        for (int i = 0; i < n; i++) blocks[i] = new SackBlock(edge + (uint)i * 100, edge + (uint)i * 100 + 50);
        var options = new TcpOptions(hasMss ? mss : null, hasWs ? ws : null, sackOk, hasTs ? tsVal : null,
            hasTs ? tsEcr : null, SackBlocks.Create(blocks));
        if (options.EmittedSackCount != n) options = options with { Sack = SackBlocks.Create(blocks.AsSpan(0, options.EmittedSackCount)) };
        var bytes = new byte[options.EncodedLength];
        return options.Emit(bytes) == bytes.Length
               && bytes.Length % 4 == 0 && bytes.Length <= TcpOptions.MaxLength
               && TcpOptions.TryParse(bytes, out var parsed, out _)
               && parsed == options;
    }

    [Property]
    public bool Segments_round_trip_through_emit_and_parse(ushort sport, ushort dport, uint seq, uint ack, byte flags,
        ushort window, bool hasMss, ushort mss, byte[] payload)
    {
        var options = new TcpOptions(hasMss ? mss : null, null, false, null, null);
        int header = 20 + options.EncodedLength;
        var segment = new byte[header + payload.Length];
        payload.CopyTo(segment, header);
        int length = TcpHeader.Emit(segment, Src, Dst, sport, dport, seq, ack, (TcpFlags)flags, window, options, payload.Length);
        return length == segment.Length
               && TcpSegment.TryCreate(segment, Src, Dst, out var tcp, out _)
               && tcp.SourcePort == sport && tcp.DestinationPort == dport && tcp.SequenceNumber == seq
               && tcp.AcknowledgmentNumber == ack && tcp.Flags == (TcpFlags)flags && tcp.Window == window
               && tcp.DataOffset == header && tcp.Options == options && tcp.Payload.SequenceEqual(payload);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    [InlineData(19)]
    public void Segments_shorter_than_20_bytes_are_dropped_as_truncated(int length) =>
        Assert.Equal(DropReason.TcpTruncated, Drop(CapturedSyn.AsSpan(0, length)));

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x40)]
    public void A_data_offset_below_five_words_is_dropped(byte offsetByte)
    {
        var segment = CapturedSyn;
        segment[12] = offsetByte;
        Assert.Equal(DropReason.TcpDataOffsetTooSmall, Drop(segment));
    }

    [Fact]
    public void A_data_offset_past_the_segment_is_dropped()
    {
        var segment = CapturedSyn;
        segment[12] = 0xB0; // 44 bytes of header in a 40-byte segment
        Assert.Equal(DropReason.TcpDataOffsetPastSegment, Drop(segment));
    }

    [Fact]
    public void A_wrong_checksum_is_dropped()
    {
        var segment = CapturedSyn;
        segment[4] ^= 0x01; // sequence number changed
        Assert.Equal(DropReason.TcpBadChecksum, Drop(segment));
    }

    [Fact]
    public void A_checksum_for_other_addresses_is_dropped()
    {
        Assert.False(TcpSegment.TryCreate(CapturedSyn, Src, CapturedFrames.GatewayIp, out _, out var reason));
        Assert.Equal(DropReason.TcpBadChecksum, reason);
    }

    [Theory]
    [InlineData("1e000000")]             // length 0
    [InlineData("1e010000")]             // length 1
    [InlineData("01011e08")]             // overruns the option space
    [InlineData("01010102")]             // length octet missing
    [InlineData("02030500")]             // MSS must be 4
    [InlineData("03040700")]             // window scale must be 3
    [InlineData("04030000")]             // SACK-permitted must be 2
    [InlineData("080800000000000000000000")] // timestamps must be 10
    [InlineData("05020000")]             // SACK with no block
    [InlineData("050600000000000000000000")] // SACK length not 2 + 8n
    public void Malformed_options_in_a_segment_are_dropped(string optionsHex) =>
        Assert.Equal(DropReason.TcpBadOption, Drop(SegmentWithOptions(Convert.FromHexString(optionsHex))));

    [Fact]
    public void A_sack_option_with_five_blocks_is_malformed()
    {
        var bytes = new byte[42];
        bytes[0] = TcpOptions.KindSack;
        bytes[1] = 42;
        Assert.False(TcpOptions.TryParse(bytes, out _, out var reason));
        Assert.Equal(DropReason.TcpBadOption, reason);
    }

    [Fact]
    public void End_of_list_stops_parsing_so_padding_after_it_is_ignored()
    {
        Assert.True(TcpOptions.TryParse(Convert.FromHexString("020405b4" + "00" + "ff0000"), out var options, out _));
        Assert.Equal((ushort)1460, options.Mss);
    }
}
