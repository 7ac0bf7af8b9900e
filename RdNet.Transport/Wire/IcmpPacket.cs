using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>ICMPv4 message types (RFC 792).</summary>
public static class IcmpType
{
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte SourceQuench = 4;
    public const byte Redirect = 5;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
    public const byte ParameterProblem = 12;

    /// <summary>
    /// True for error messages, about which no ICMP error may be sent (RFC 1122 §3.2.2).
    /// </summary>
    public static bool IsError(byte type) =>
        type is DestinationUnreachable or SourceQuench or Redirect or TimeExceeded or ParameterProblem;
}

/// <summary>
/// A view over an ICMPv4 message (RFC 792): the whole IP payload, checksum verified on creation.
/// <code>
///  0       1       2               4               6               8
/// +-------+-------+---------------+---------------+---------------+------
/// | type  | code  |   checksum    |  identifier   |   sequence    | data
/// +-------+-------+---------------+---------------+---------------+------
/// </code>
/// Bytes 4..8 are the echo identifier and sequence; for other types they are type-specific (<see cref="Rest"/>).
/// </summary>
public readonly ref struct IcmpPacket
{
    public const int HeaderLength = 8;

    internal const int TypeOffset = 0;
    internal const int CodeOffset = 1;
    internal const int ChecksumOffset = 2;
    internal const int IdentifierOffset = 4;
    internal const int SequenceOffset = 6;
    private const int RestOffset = 4;

    private readonly ReadOnlySpan<byte> _message;

    private IcmpPacket(ReadOnlySpan<byte> message) => _message = message;

    public static bool TryCreate(ReadOnlySpan<byte> ipPayload, out IcmpPacket view, out DropReason reason)
    {
        view = default;
        if (ipPayload.Length < HeaderLength)
        {
            reason = DropReason.IcmpTruncated;
            return false;
        }
        if (InternetChecksum.Compute(ipPayload) != 0)
        {
            reason = DropReason.IcmpBadChecksum;
            return false;
        }
        view = new IcmpPacket(ipPayload);
        reason = DropReason.None;
        return true;
    }

    public byte Type => _message[TypeOffset];
    public byte Code => _message[CodeOffset];
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_message[ChecksumOffset..]);
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_message[IdentifierOffset..]);
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_message[SequenceOffset..]);
    /// <summary>Everything after type, code and checksum.</summary>
    public ReadOnlySpan<byte> Rest => _message[RestOffset..];
    /// <summary>Everything after the 8-byte header (echo data, or the quoted datagram of an error).</summary>
    public ReadOnlySpan<byte> Data => _message[HeaderLength..];
    public ReadOnlySpan<byte> Message => _message;
}

/// <summary>Writes ICMP echo request/reply messages.</summary>
public static class IcmpEcho
{
    /// <summary>
    /// Writes an echo message with its checksum and returns its length (8 + data). <paramref name="data"/> may
    /// overlap <paramref name="dst"/> (for example a reply built in place over the request).
    /// </summary>
    public static int Emit(Span<byte> dst, byte type, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        int length = IcmpPacket.HeaderLength + data.Length;
        var m = dst[..length];
        data.CopyTo(m[IcmpPacket.HeaderLength..]); // first: data may alias the header bytes we are about to write
        m[IcmpPacket.TypeOffset] = type;
        m[IcmpPacket.CodeOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(m[IcmpPacket.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(m[IcmpPacket.IdentifierOffset..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(m[IcmpPacket.SequenceOffset..], sequence);
        BinaryPrimitives.WriteUInt16BigEndian(m[IcmpPacket.ChecksumOffset..], InternetChecksum.Compute(m));
        return length;
    }
}
