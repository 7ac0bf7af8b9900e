using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).</summary>
[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 1,
    Syn = 2,
    Rst = 4,
    Psh = 8,
    Ack = 16,
    Urg = 32,
    Ece = 64,
    Cwr = 128,
}

/// <summary>
/// A view over a TCP segment (RFC 9293 §3.1); the checksum and the option layout are verified on creation.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Source Port          |       Destination Port        |
/// |                        Sequence Number                        |
/// |                    Acknowledgment Number                      |
/// |  Data |       |C|E|U|A|P|R|S|F|                               |
/// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
/// |           Checksum            |         Urgent Pointer        |
/// |                           [Options]                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly ref struct TcpSegment
{
    public const int MinHeaderLength = 20;
    public const int MaxHeaderLength = 60;

    internal const int SourcePortOffset = 0;
    internal const int DestinationPortOffset = 2;
    internal const int SequenceOffset = 4;
    internal const int AcknowledgmentOffset = 8;
    internal const int DataOffsetOffset = 12;
    internal const int FlagsOffset = 13;
    internal const int WindowOffset = 14;
    internal const int ChecksumOffset = 16;
    internal const int UrgentPointerOffset = 18;

    private readonly ReadOnlySpan<byte> _segment;

    private TcpSegment(ReadOnlySpan<byte> segment) => _segment = segment;

    /// <summary>Creates a view over the whole IP payload, which is the segment (TCP has no length field of its own).</summary>
    public static bool TryCreate(ReadOnlySpan<byte> ipPayload, Ipv4Address source, Ipv4Address destination,
        out TcpSegment view, out DropReason reason)
    {
        view = default;
        if (ipPayload.Length < MinHeaderLength)
        {
            reason = DropReason.TcpTruncated;
            return false;
        }
        int dataOffset = (ipPayload[DataOffsetOffset] >> 4) * 4;
        if (dataOffset < MinHeaderLength)
        {
            reason = DropReason.TcpDataOffsetTooSmall;
            return false;
        }
        if (dataOffset > ipPayload.Length)
        {
            reason = DropReason.TcpDataOffsetPastSegment;
            return false;
        }
        uint sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, ipPayload.Length), ipPayload);
        if (InternetChecksum.Fold(sum) != 0)
        {
            reason = DropReason.TcpBadChecksum;
            return false;
        }
        if (!TcpOptions.TryParse(ipPayload[MinHeaderLength..dataOffset], out _, out reason))
        {
            return false;
        }
        view = new TcpSegment(ipPayload);
        reason = DropReason.None;
        return true;
    }

    /// <summary>
    /// A view over a segment that <see cref="TryCreate"/> already accepted (the gateway verified it before handing
    /// the frame on): the offsets are checked again, the checksum and options are not.
    /// </summary>
    public static bool TryCreateVerified(ReadOnlySpan<byte> ipPayload, out TcpSegment view)
    {
        view = default;
        if (ipPayload.Length < MinHeaderLength) return false;
        int dataOffset = (ipPayload[DataOffsetOffset] >> 4) * 4;
        if (dataOffset < MinHeaderLength || dataOffset > ipPayload.Length) return false;
        view = new TcpSegment(ipPayload);
        return true;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_segment[SourcePortOffset..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_segment[DestinationPortOffset..]);
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_segment[SequenceOffset..]);
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_segment[AcknowledgmentOffset..]);
    /// <summary>Header length in bytes (data offset × 4).</summary>
    public int DataOffset => (_segment[DataOffsetOffset] >> 4) * 4;
    public TcpFlags Flags => (TcpFlags)_segment[FlagsOffset];
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_segment[WindowOffset..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_segment[ChecksumOffset..]);
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_segment[UrgentPointerOffset..]);
    public ReadOnlySpan<byte> OptionsBytes => _segment[MinHeaderLength..DataOffset];
    public ReadOnlySpan<byte> Payload => _segment[DataOffset..];
    public ReadOnlySpan<byte> Segment => _segment;

    /// <summary>The decoded options; cannot fail because the layout was validated by <see cref="TryCreate"/>.</summary>
    public TcpOptions Options
    {
        get
        {
            return TcpOptions.TryParse(OptionsBytes, out var options, out _) ? options : default;
        }
    }
}

/// <summary>One SACK block (RFC 2018 §3): the left edge and the sequence number just past the right edge.</summary>
public readonly record struct SackBlock(uint Left, uint Right);

/// <summary>Up to four SACK blocks held inline, so <see cref="TcpOptions"/> stays an allocation-free value.</summary>
public readonly record struct SackBlocks
{
    public const int MaxCount = 4;

    private readonly SackBlock _b0, _b1, _b2, _b3;

    public int Count { get; }

    public SackBlock this[int index] => (uint)index < (uint)Count
        ? index switch { 0 => _b0, 1 => _b1, 2 => _b2, _ => _b3 }
        : throw new ArgumentOutOfRangeException(nameof(index));

    private SackBlocks(int count, SackBlock b0, SackBlock b1, SackBlock b2, SackBlock b3)
    {
        Count = count;
        _b0 = b0;
        _b1 = b1;
        _b2 = b2;
        _b3 = b3;
    }

    /// <summary>Takes up to <see cref="MaxCount"/> blocks; further ones are ignored.</summary>
    public static SackBlocks Create(ReadOnlySpan<SackBlock> blocks)
    {
        int n = Math.Min(blocks.Length, MaxCount);
        return new SackBlocks(n,
            n > 0 ? blocks[0] : default,
            n > 1 ? blocks[1] : default,
            n > 2 ? blocks[2] : default,
            n > 3 ? blocks[3] : default);
    }
}

/// <summary>
/// The TCP options RdNet uses: MSS (RFC 9293 §3.2), window scale and timestamps (RFC 7323), SACK (RFC 2018).
/// Unknown options are skipped when parsing and never emitted.
/// </summary>
/// <remarks>
/// <see cref="Emit"/> uses the layout Linux sends (MSS, SACK-permitted + timestamps, NOP + window scale, NOP NOP +
/// SACK), which keeps every option group 4-byte aligned without trailing padding. The option space is 40 bytes; SACK
/// blocks that do not fit beside the other options are left out (RFC 2018 §3: three blocks with timestamps).
/// Timestamps are emitted when <see cref="TsVal"/> has a value, with <see cref="TsEcr"/> defaulting to 0.
/// </remarks>
public readonly record struct TcpOptions(ushort? Mss, byte? WindowScale, bool SackPermitted, uint? TsVal, uint? TsEcr, SackBlocks Sack = default)
{
    public const int MaxLength = TcpSegment.MaxHeaderLength - TcpSegment.MinHeaderLength;

    public const byte KindEndOfList = 0;
    public const byte KindNoOperation = 1;
    public const byte KindMss = 2;
    public const byte KindWindowScale = 3;
    public const byte KindSackPermitted = 4;
    public const byte KindSack = 5;
    public const byte KindTimestamps = 8;

    private const int MssLength = 4;
    private const int WindowScaleLength = 3;
    private const int SackPermittedLength = 2;
    private const int TimestampsLength = 10;
    private const int SackHeaderLength = 2;
    private const int SackBlockLength = 8;

    public static TcpOptions None => default;

    public static bool TryParse(ReadOnlySpan<byte> options, out TcpOptions o, out DropReason reason)
    {
        o = default;
        ushort? mss = null;
        byte? windowScale = null;
        bool sackPermitted = false;
        uint? tsVal = null, tsEcr = null;
        SackBlocks sack = default;
        Span<SackBlock> blocks = stackalloc SackBlock[SackBlocks.MaxCount];

        int i = 0;
        while (i < options.Length)
        {
            byte kind = options[i];
            if (kind == KindEndOfList) break; // the rest is padding
            if (kind == KindNoOperation)
            {
                i++;
                continue;
            }
            // RFC 9293 §3.1: every other option is kind, length (covering kind and length), data.
            if (i + 1 >= options.Length || options[i + 1] < 2 || i + options[i + 1] > options.Length)
            {
                reason = DropReason.TcpBadOption;
                return false;
            }
            int length = options[i + 1];
            var body = options.Slice(i + 2, length - 2);
            switch (kind)
            {
                case KindMss when length == MssLength:
                    mss = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case KindWindowScale when length == WindowScaleLength:
                    windowScale = body[0];
                    break;
                case KindSackPermitted when length == SackPermittedLength:
                    sackPermitted = true;
                    break;
                case KindTimestamps when length == TimestampsLength:
                    tsVal = BinaryPrimitives.ReadUInt32BigEndian(body);
                    tsEcr = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    break;
                case KindSack when (length - SackHeaderLength) % SackBlockLength == 0
                                   && (length - SackHeaderLength) / SackBlockLength is >= 1 and <= SackBlocks.MaxCount:
                    int n = (length - SackHeaderLength) / SackBlockLength;
                    for (int b = 0; b < n; b++)
                    {
                        var edge = body.Slice(b * SackBlockLength, SackBlockLength);
                        blocks[b] = new SackBlock(BinaryPrimitives.ReadUInt32BigEndian(edge), BinaryPrimitives.ReadUInt32BigEndian(edge[4..]));
                    }
                    sack = SackBlocks.Create(blocks[..n]);
                    break;
                case KindMss or KindWindowScale or KindSackPermitted or KindTimestamps or KindSack:
                    reason = DropReason.TcpBadOption; // a known option with the wrong fixed length
                    return false;
                default:
                    break; // unknown options are skipped by length (RFC 9293 §3.2)
            }
            i += length;
        }

        o = new TcpOptions(mss, windowScale, sackPermitted, tsVal, tsEcr, sack);
        reason = DropReason.None;
        return true;
    }

    private int LengthWithoutSack =>
        (Mss.HasValue ? 4 : 0)
        + (TsVal.HasValue ? 12 : SackPermitted ? 4 : 0)
        + (WindowScale.HasValue ? 4 : 0);

    /// <summary>How many SACK blocks <see cref="Emit"/> writes: as many as fit in the 40-byte option space.</summary>
    public int EmittedSackCount
    {
        get
        {
            if (Sack.Count == 0) return 0;
            int room = (MaxLength - LengthWithoutSack - 2 - SackHeaderLength) / SackBlockLength;
            return Math.Clamp(room, 0, Sack.Count);
        }
    }

    /// <summary>Encoded length in bytes, a multiple of 4 and at most <see cref="MaxLength"/>.</summary>
    public int EncodedLength
    {
        get
        {
            int sack = EmittedSackCount;
            return LengthWithoutSack + (sack > 0 ? 2 + SackHeaderLength + sack * SackBlockLength : 0);
        }
    }

    /// <summary>Writes the options and returns <see cref="EncodedLength"/>.</summary>
    public int Emit(Span<byte> dst)
    {
        int i = 0;
        if (Mss is ushort mss)
        {
            dst[i] = KindMss;
            dst[i + 1] = MssLength;
            BinaryPrimitives.WriteUInt16BigEndian(dst[(i + 2)..], mss);
            i += 4;
        }
        if (TsVal is uint tsVal)
        {
            if (SackPermitted)
            {
                dst[i] = KindSackPermitted;
                dst[i + 1] = SackPermittedLength;
            }
            else
            {
                dst[i] = KindNoOperation;
                dst[i + 1] = KindNoOperation;
            }
            dst[i + 2] = KindTimestamps;
            dst[i + 3] = TimestampsLength;
            BinaryPrimitives.WriteUInt32BigEndian(dst[(i + 4)..], tsVal);
            BinaryPrimitives.WriteUInt32BigEndian(dst[(i + 8)..], TsEcr ?? 0);
            i += 12;
        }
        else if (SackPermitted)
        {
            dst[i] = KindNoOperation;
            dst[i + 1] = KindNoOperation;
            dst[i + 2] = KindSackPermitted;
            dst[i + 3] = SackPermittedLength;
            i += 4;
        }
        if (WindowScale is byte ws)
        {
            dst[i] = KindNoOperation;
            dst[i + 1] = KindWindowScale;
            dst[i + 2] = WindowScaleLength;
            dst[i + 3] = ws;
            i += 4;
        }
        int sackCount = EmittedSackCount;
        if (sackCount > 0)
        {
            dst[i] = KindNoOperation;
            dst[i + 1] = KindNoOperation;
            dst[i + 2] = KindSack;
            dst[i + 3] = (byte)(SackHeaderLength + sackCount * SackBlockLength);
            i += 4;
            for (int b = 0; b < sackCount; b++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(dst[i..], Sack[b].Left);
                BinaryPrimitives.WriteUInt32BigEndian(dst[(i + 4)..], Sack[b].Right);
                i += SackBlockLength;
            }
        }
        return i;
    }
}

/// <summary>Writes TCP headers around a payload already in place.</summary>
public static class TcpHeader
{
    /// <summary>
    /// Writes header, options and checksum. The payload must already be at
    /// <c>segment[20 + options.EncodedLength ..][..payloadLength]</c>. Returns the segment length.
    /// </summary>
    public static int Emit(Span<byte> segment, Ipv4Address src, Ipv4Address dst, ushort srcPort, ushort dstPort,
        uint seq, uint ack, TcpFlags flags, ushort window, in TcpOptions options, int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        int headerLength = TcpSegment.MinHeaderLength + options.EncodedLength;
        int length = headerLength + payloadLength;
        var s = segment[..length];
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.SourcePortOffset..], srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.DestinationPortOffset..], dstPort);
        BinaryPrimitives.WriteUInt32BigEndian(s[TcpSegment.SequenceOffset..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(s[TcpSegment.AcknowledgmentOffset..], ack);
        s[TcpSegment.DataOffsetOffset] = (byte)((headerLength / 4) << 4);
        s[TcpSegment.FlagsOffset] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.WindowOffset..], window);
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.UrgentPointerOffset..], 0);
        options.Emit(s[TcpSegment.MinHeaderLength..headerLength]);
        ushort checksum = InternetChecksum.Fold(
            InternetChecksum.Add(InternetChecksum.PseudoHeader(src, dst, IpProtocol.Tcp, length), s));
        BinaryPrimitives.WriteUInt16BigEndian(s[TcpSegment.ChecksumOffset..], checksum);
        return length;
    }
}
