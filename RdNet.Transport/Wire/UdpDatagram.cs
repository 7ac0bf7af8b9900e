using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>
/// A view over a UDP datagram (RFC 768), length and checksum verified on creation.
/// <code>
///  0               2               4               6               8
/// +---------------+---------------+---------------+---------------+------
/// |  source port  |   dest port   |    length     |   checksum    | data
/// +---------------+---------------+---------------+---------------+------
/// </code>
/// Every span it hands out ends at the UDP length, even when the IP payload is longer.
/// </summary>
public readonly ref struct UdpDatagram
{
    public const int HeaderLength = 8;

    internal const int SourcePortOffset = 0;
    internal const int DestinationPortOffset = 2;
    internal const int LengthOffset = 4;
    internal const int ChecksumOffset = 6;

    private readonly ReadOnlySpan<byte> _datagram; // exactly Length bytes

    private UdpDatagram(ReadOnlySpan<byte> datagram) => _datagram = datagram;

    public static bool TryCreate(ReadOnlySpan<byte> ipPayload, Ipv4Address source, Ipv4Address destination,
        out UdpDatagram view, out DropReason reason)
    {
        view = default;
        if (ipPayload.Length < HeaderLength)
        {
            reason = DropReason.UdpTruncated;
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(ipPayload[LengthOffset..]);
        if (length < HeaderLength)
        {
            reason = DropReason.UdpLengthTooSmall;
            return false;
        }
        if (length > ipPayload.Length)
        {
            reason = DropReason.UdpLengthPastPayload;
            return false;
        }
        var datagram = ipPayload[..length];
        // RFC 768: an all-zero checksum field means the sender did not compute one.
        if (BinaryPrimitives.ReadUInt16BigEndian(datagram[ChecksumOffset..]) != 0)
        {
            uint sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Udp, length), datagram);
            if (InternetChecksum.Fold(sum) != 0)
            {
                reason = DropReason.UdpBadChecksum;
                return false;
            }
        }
        view = new UdpDatagram(datagram);
        reason = DropReason.None;
        return true;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_datagram[SourcePortOffset..]);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_datagram[DestinationPortOffset..]);
    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(_datagram[LengthOffset..]);
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_datagram[ChecksumOffset..]);
    public ReadOnlySpan<byte> Payload => _datagram[HeaderLength..];
    public ReadOnlySpan<byte> Datagram => _datagram;
}

/// <summary>Writes UDP headers around a payload already in place.</summary>
public static class UdpHeader
{
    public const int Length = UdpDatagram.HeaderLength;
    public const int MaxPayloadLength = ushort.MaxValue - Length;

    /// <summary>
    /// Writes the header and checksum for the payload at <c>datagram[8..8+payloadLength]</c>; returns 8 + payloadLength.
    /// </summary>
    public static int Emit(Span<byte> datagram, Ipv4Address source, Ipv4Address destination, ushort sourcePort,
        ushort destinationPort, int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadLength, MaxPayloadLength);
        int length = Length + payloadLength;
        var d = datagram[..length];
        BinaryPrimitives.WriteUInt16BigEndian(d[UdpDatagram.SourcePortOffset..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(d[UdpDatagram.DestinationPortOffset..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(d[UdpDatagram.LengthOffset..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(d[UdpDatagram.ChecksumOffset..], 0);
        ushort checksum = InternetChecksum.Fold(
            InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IpProtocol.Udp, length), d));
        // RFC 768: a computed checksum of zero is sent as all ones, since zero means "no checksum".
        if (checksum == 0) checksum = 0xFFFF;
        BinaryPrimitives.WriteUInt16BigEndian(d[UdpDatagram.ChecksumOffset..], checksum);
        return length;
    }
}
