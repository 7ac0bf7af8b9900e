using System.Buffers.Binary;
using System.Text;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>Record types and classes the gateway's DNS looks at (RFC 1035 §3.2.2, RFC 3596, RFC 6891).</summary>
public static class DnsType
{
    public const ushort A = 1, Ns = 2, Cname = 5, Soa = 6, Ptr = 12, Mx = 15, Txt = 16, Aaaa = 28, Srv = 33, Opt = 41, Any = 255;
    public const ushort ClassIn = 1;
}

/// <summary>Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for the extended BADVERS).</summary>
public static class DnsRcode
{
    public const byte NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5;
    public const int BadVers = 16;
}

/// <summary>Which section of a message a record belongs to.</summary>
public enum DnsSection
{
    Answer,
    Authority,
    Additional,
}

/// <summary>
/// Domain names on the wire (RFC 1035 §3.1, §4.1.4). A name is a run of labels (length byte 0–63, then the bytes)
/// ending with the zero-length root label, or with a compression pointer (top two bits 11, 14-bit offset). Labels
/// whose length byte starts with 01 or 10 (a length of 64–191) are refused as "label too long". Every pointer must
/// point strictly before the start of the run of labels that contains it, so a walk only ever moves backwards and a
/// loop is impossible (RELIABILITY row 7: "only backward pointers followed"); the expanded name may not exceed 255
/// bytes and may not take more than 127 pointers, which bounds the work per name.
/// </summary>
public static class DnsName
{
    public const int MaxLength = 255;
    public const int MaxLabelLength = 63;

    /// <summary>A name of at most 255 bytes has at most 127 labels, so it never needs more pointers than that.</summary>
    public const int MaxPointers = 127;
    private const byte PointerMask = 0xC0;

    /// <summary>Validates the name at <paramref name="offset"/>; <paramref name="next"/> is the first byte after it in place.</summary>
    public static bool TrySkip(ReadOnlySpan<byte> message, int offset, out int next, out DropReason reason) =>
        Walk(message, offset, null, out next, out reason);

    /// <summary>
    /// Reads the name at <paramref name="offset"/> as lower-case dotted text with the trailing dot ("host.docker.internal.",
    /// the root is "."). Only ASCII A–Z are folded (RFC 4343); other bytes are kept as the characters of the same value.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> message, int offset, out string name, out int next, out DropReason reason)
    {
        var sb = new StringBuilder(64);
        if (!Walk(message, offset, sb, out next, out reason))
        {
            name = "";
            return false;
        }
        name = sb.Length == 0 ? "." : sb.ToString();
        return true;
    }

    private static bool Walk(ReadOnlySpan<byte> message, int offset, StringBuilder? text, out int next, out DropReason reason)
    {
        next = -1;
        var pos = offset;
        var segmentStart = offset; // pointers must target bytes before this
        var wireLength = 1; // the root label
        var pointers = 0;
        while (true)
        {
            if (pos >= message.Length)
            {
                reason = DropReason.DnsNamePastEnd;
                return false;
            }
            var len = message[pos];
            if ((len & PointerMask) == PointerMask)
            {
                if (pos + 1 >= message.Length)
                {
                    reason = DropReason.DnsNamePastEnd;
                    return false;
                }
                var target = BinaryPrimitives.ReadUInt16BigEndian(message[pos..]) & 0x3FFF;
                if (target >= segmentStart)
                {
                    reason = DropReason.DnsPointerNotBackward;
                    return false;
                }
                // Chains of pointers to pointers add no length; without this cap one name could cost ~32k hops.
                if (++pointers > MaxPointers)
                {
                    reason = DropReason.DnsTooManyPointers;
                    return false;
                }
                if (next < 0) next = pos + 2;
                pos = segmentStart = target;
                continue;
            }
            if ((len & PointerMask) != 0)
            {
                reason = DropReason.DnsLabelTooLong;
                return false;
            }
            if (len == 0)
            {
                if (next < 0) next = pos + 1;
                reason = DropReason.None;
                return true;
            }
            wireLength += len + 1;
            if (wireLength > MaxLength)
            {
                reason = DropReason.DnsNameTooLong;
                return false;
            }
            if (pos + 1 + len > message.Length)
            {
                reason = DropReason.DnsNamePastEnd;
                return false;
            }
            if (text is not null)
            {
                foreach (var b in message.Slice(pos + 1, len))
                    text.Append(b is >= (byte)'A' and <= (byte)'Z' ? (char)(b + 32) : (char)b);
                text.Append('.');
            }
            pos += 1 + len;
        }
    }

    /// <summary>Writes <paramref name="name"/> ("a.b.c" or "a.b.c.") uncompressed; returns the bytes written, or -1 if it does not fit or is invalid.</summary>
    public static int Write(Span<byte> dst, string name)
    {
        var pos = 0;
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.None))
        {
            if (label.Length == 0)
            {
                if (name.TrimEnd('.').Length == 0) break; // the root
                return -1;
            }
            if (label.Length > MaxLabelLength || pos + 1 + label.Length >= dst.Length) return -1;
            dst[pos++] = (byte)label.Length;
            foreach (var c in label)
            {
                if (c > 0x7F) return -1;
                dst[pos++] = (byte)c;
            }
        }
        if (pos + 1 > MaxLength || pos >= dst.Length) return -1;
        dst[pos++] = 0;
        return pos;
    }
}

/// <summary>One question: the name as lower-case dotted text with the trailing dot, its type and class.</summary>
public sealed record DnsQuestion(string Name, ushort Type, ushort Class)
{
    public override string ToString() => $"{Name} type {Type} class {Class}";
}

/// <summary>The EDNS(0) pseudo-record of a message (RFC 6891 §6.1.2), as offsets into the message.</summary>
public readonly record struct DnsEdns(int Offset, int Length, ushort UdpPayloadSize, byte ExtendedRcode, byte Version);

/// <summary>
/// A view over a DNS message (RFC 1035 §4.1), fully walked on creation: the header, every question and every
/// resource record, so that a count larger than the data, a record running past the end, a bad name or a second
/// OPT record is found once, up front, and no accessor can read past the message.
/// <code>
///  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |                      ID                       |
/// |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
/// |                    QDCOUNT                    |
/// |                    ANCOUNT                    |
/// |                    NSCOUNT                    |
/// |                    ARCOUNT                    |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// </code>
/// Bytes after the last record are ignored.
/// </summary>
public readonly ref struct DnsMessage
{
    public const int HeaderLength = 12;
    public const int FixedRecordLength = 10; // type, class, ttl, rdlength after the owner name
    public const int QuestionFixedLength = 4;

    internal const int IdOffset = 0;
    internal const int FlagsOffset = 2;
    internal const int QdCountOffset = 4;
    internal const int AnCountOffset = 6;
    internal const int NsCountOffset = 8;
    internal const int ArCountOffset = 10;

    public const ushort QrFlag = 0x8000;
    public const ushort AaFlag = 0x0400;
    public const ushort TcFlag = 0x0200;
    public const ushort RdFlag = 0x0100;
    public const ushort RaFlag = 0x0080;
    public const ushort CdFlag = 0x0010;
    private const int OpcodeShift = 11;
    private const ushort OpcodeMask = 0x7800;
    private const ushort RcodeMask = 0x000F;

    private readonly ReadOnlySpan<byte> _message;

    private DnsMessage(ReadOnlySpan<byte> message, int questionEnd, int end, DnsEdns? edns)
    {
        _message = message;
        QuestionEnd = questionEnd;
        End = end;
        Edns = edns;
    }

    /// <summary>Reads only the header fields (for a FORMERR reply to a message whose body is bad).</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> message, out ushort id, out ushort flags)
    {
        id = flags = 0;
        if (message.Length < HeaderLength) return false;
        id = BinaryPrimitives.ReadUInt16BigEndian(message[IdOffset..]);
        flags = BinaryPrimitives.ReadUInt16BigEndian(message[FlagsOffset..]);
        return true;
    }

    public static bool TryParse(ReadOnlySpan<byte> message, out DnsMessage view, out DropReason reason)
    {
        view = default;
        if (message.Length < HeaderLength)
        {
            reason = DropReason.DnsHeaderTruncated;
            return false;
        }
        int qd = BinaryPrimitives.ReadUInt16BigEndian(message[QdCountOffset..]);
        int records = BinaryPrimitives.ReadUInt16BigEndian(message[AnCountOffset..])
            + BinaryPrimitives.ReadUInt16BigEndian(message[NsCountOffset..]);
        int additional = BinaryPrimitives.ReadUInt16BigEndian(message[ArCountOffset..]);
        var pos = HeaderLength;
        for (var i = 0; i < qd; i++)
        {
            if (!DnsName.TrySkip(message, pos, out pos, out reason)) return false;
            if (pos + QuestionFixedLength > message.Length)
            {
                reason = DropReason.DnsRecordPastEnd;
                return false;
            }
            pos += QuestionFixedLength;
        }
        var questionEnd = pos;
        DnsEdns? edns = null;
        // Each record takes at least 11 bytes, so the walk ends with the data whatever the counts claim.
        for (var i = 0; i < records + additional; i++)
        {
            var start = pos;
            if (!DnsName.TrySkip(message, pos, out pos, out reason)) return false;
            if (pos + FixedRecordLength > message.Length)
            {
                reason = DropReason.DnsRecordPastEnd;
                return false;
            }
            var type = BinaryPrimitives.ReadUInt16BigEndian(message[pos..]);
            var cls = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 2)..]);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(message[(pos + 4)..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 8)..]);
            var nameLength = pos - start;
            pos += FixedRecordLength;
            if (pos + rdLength > message.Length)
            {
                reason = DropReason.DnsRecordPastEnd;
                return false;
            }
            pos += rdLength;
            if (type == DnsType.Opt && i >= records)
            {
                // RFC 6891 §6.1.1: one OPT at most, owned by the root.
                if (edns is not null || nameLength != 1 || message[start] != 0)
                {
                    reason = DropReason.DnsManyOptRecords;
                    return false;
                }
                edns = new DnsEdns(start, pos - start, cls, (byte)(ttl >> 24), (byte)(ttl >> 16));
            }
        }
        view = new DnsMessage(message, questionEnd, pos, edns);
        reason = DropReason.None;
        return true;
    }

    public ushort Id => BinaryPrimitives.ReadUInt16BigEndian(_message[IdOffset..]);
    public ushort Flags => BinaryPrimitives.ReadUInt16BigEndian(_message[FlagsOffset..]);
    public bool IsResponse => (Flags & QrFlag) != 0;
    public int Opcode => (Flags & OpcodeMask) >> OpcodeShift;
    public bool IsTruncated => (Flags & TcFlag) != 0;
    public int Rcode => Flags & RcodeMask;
    public int QuestionCount => BinaryPrimitives.ReadUInt16BigEndian(_message[QdCountOffset..]);
    public int AnswerCount => BinaryPrimitives.ReadUInt16BigEndian(_message[AnCountOffset..]);
    public int AuthorityCount => BinaryPrimitives.ReadUInt16BigEndian(_message[NsCountOffset..]);
    public int AdditionalCount => BinaryPrimitives.ReadUInt16BigEndian(_message[ArCountOffset..]);

    /// <summary>Offset of the first byte after the question section (the first record).</summary>
    public int QuestionEnd { get; }

    /// <summary>Offset of the first byte after the last record.</summary>
    public int End { get; }

    /// <summary>The OPT record, if the message has one.</summary>
    public DnsEdns? Edns { get; }

    public ReadOnlySpan<byte> Message => _message;

    /// <summary>The question section's bytes as sent (the name's case preserved).</summary>
    public ReadOnlySpan<byte> QuestionSection => _message[HeaderLength..QuestionEnd];

    /// <summary>The first question; the message was validated, so this cannot fail when <see cref="QuestionCount"/> &gt; 0.</summary>
    public DnsQuestion FirstQuestion()
    {
        if (QuestionCount == 0) throw new InvalidOperationException("the message has no question");
        DnsName.TryRead(_message, HeaderLength, out var name, out var next, out _);
        return new DnsQuestion(name, BinaryPrimitives.ReadUInt16BigEndian(_message[next..]), BinaryPrimitives.ReadUInt16BigEndian(_message[(next + 2)..]));
    }

    /// <summary>Walks the records of a validated message, in order.</summary>
    public RecordWalker Records() => new(_message, QuestionEnd, AnswerCount, AuthorityCount, AdditionalCount);

    /// <summary>Enumerates record boundaries; every record was validated by <see cref="TryParse"/>.</summary>
    public ref struct RecordWalker
    {
        private readonly ReadOnlySpan<byte> _message;
        private readonly int _answers;
        private readonly int _authority;
        private readonly int _total;
        private int _index;
        private int _pos;

        internal RecordWalker(ReadOnlySpan<byte> message, int start, int answers, int authority, int additional)
        {
            _message = message;
            _answers = answers;
            _authority = authority;
            _total = answers + authority + additional;
            _pos = start;
            _index = -1;
        }

        public int Start { get; private set; }
        public int End { get; private set; }
        public ushort Type { get; private set; }
        public DnsSection Section { get; private set; }

        /// <summary>The record's time to live (RFC 2181 §8: a value with the top bit set means zero).</summary>
        public uint Ttl { get; private set; }

        public bool MoveNext()
        {
            if (_index + 1 >= _total) return false;
            _index++;
            Start = _pos;
            DnsName.TrySkip(_message, _pos, out var fixedAt, out _);
            Type = BinaryPrimitives.ReadUInt16BigEndian(_message[fixedAt..]);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(_message[(fixedAt + 4)..]);
            Ttl = ttl > int.MaxValue ? 0 : ttl;
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(_message[(fixedAt + 8)..]);
            End = _pos = fixedAt + FixedRecordLength + rdLength;
            Section = _index < _answers ? DnsSection.Answer : _index < _answers + _authority ? DnsSection.Authority : DnsSection.Additional;
            return true;
        }
    }
}
