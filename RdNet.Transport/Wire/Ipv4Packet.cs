using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>IANA protocol numbers carried in the IPv4 protocol field.</summary>
public static class IpProtocol
{
    public const byte Icmp = 1, Tcp = 6, Udp = 17;
}

/// <summary>
/// A view over an IPv4 packet (RFC 791 §3.1), validated once on creation.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// |         Identification        |Flags|      Fragment Offset    |
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// |                       Source Address                          |
/// |                    Destination Address                        |
/// |                    Options                    |    Padding    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// Every span it hands out ends at Total Length: bytes after it (Ethernet padding, garbage) are never visible.
/// </summary>
public readonly ref struct Ipv4Packet
{
    public const int MinHeaderLength = 20;
    public const int MaxHeaderLength = 60;

    internal const int VersionIhlOffset = 0;
    internal const int TosOffset = 1;
    internal const int TotalLengthOffset = 2;
    internal const int IdentificationOffset = 4;
    internal const int FlagsFragmentOffset = 6;
    internal const int TtlOffset = 8;
    internal const int ProtocolOffset = 9;
    internal const int ChecksumOffset = 10;
    internal const int SourceOffset = 12;
    internal const int DestinationOffset = 16;

    internal const ushort DontFragmentFlag = 0x4000;
    internal const ushort MoreFragmentsFlag = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;
    private const int FragmentOffsetUnit = 8;

    // RFC 791 §3.1 options: these two are a single octet; every other option has a length octet covering itself.
    private const byte OptionEndOfList = 0;
    private const byte OptionNoOperation = 1;

    private readonly ReadOnlySpan<byte> _packet; // exactly TotalLength bytes

    private Ipv4Packet(ReadOnlySpan<byte> packet) => _packet = packet;

    public static bool TryCreate(ReadOnlySpan<byte> data, out Ipv4Packet view, out DropReason reason)
    {
        view = default;
        if (data.Length < MinHeaderLength)
        {
            reason = DropReason.Ipv4Truncated;
            return false;
        }
        if (data[VersionIhlOffset] >> 4 != 4)
        {
            reason = DropReason.Ipv4BadVersion;
            return false;
        }
        int headerLength = (data[VersionIhlOffset] & 0x0F) * 4;
        if (headerLength < MinHeaderLength)
        {
            reason = DropReason.Ipv4HeaderLengthTooSmall;
            return false;
        }
        if (headerLength > data.Length)
        {
            reason = DropReason.Ipv4HeaderPastBuffer;
            return false;
        }
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(data[TotalLengthOffset..]);
        if (totalLength < headerLength)
        {
            reason = DropReason.Ipv4TotalLengthTooSmall;
            return false;
        }
        if (totalLength > data.Length)
        {
            reason = DropReason.Ipv4TotalLengthPastBuffer;
            return false;
        }
        var header = data[..headerLength];
        if (InternetChecksum.Compute(header) != 0)
        {
            reason = DropReason.Ipv4BadHeaderChecksum;
            return false;
        }
        if (!OptionsAreWellFormed(header[MinHeaderLength..]))
        {
            reason = DropReason.Ipv4BadOptions;
            return false;
        }
        view = new Ipv4Packet(data[..totalLength]);
        reason = DropReason.None;
        return true;
    }

    private static bool OptionsAreWellFormed(ReadOnlySpan<byte> options)
    {
        int i = 0;
        while (i < options.Length)
        {
            byte kind = options[i];
            if (kind == OptionEndOfList) return true; // the rest is padding
            if (kind == OptionNoOperation)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length) return false;
            int length = options[i + 1];
            if (length < 2 || i + length > options.Length) return false;
            i += length;
        }
        return true;
    }

    public byte Version => (byte)(_packet[VersionIhlOffset] >> 4);
    /// <summary>Header length in bytes (IHL × 4).</summary>
    public int HeaderLength => (_packet[VersionIhlOffset] & 0x0F) * 4;
    public byte Tos => _packet[TosOffset];
    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_packet[TotalLengthOffset..]);
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_packet[IdentificationOffset..]);
    private ushort FlagsAndFragment => BinaryPrimitives.ReadUInt16BigEndian(_packet[FlagsFragmentOffset..]);
    public bool DontFragment => (FlagsAndFragment & DontFragmentFlag) != 0;
    public bool MoreFragments => (FlagsAndFragment & MoreFragmentsFlag) != 0;
    /// <summary>Fragment offset in bytes (the field counts 8-byte units).</summary>
    public int FragmentOffset => (FlagsAndFragment & FragmentOffsetMask) * FragmentOffsetUnit;
    public bool IsFragment => MoreFragments || (FlagsAndFragment & FragmentOffsetMask) != 0;
    public byte Ttl => _packet[TtlOffset];
    public byte Protocol => _packet[ProtocolOffset];
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_packet[ChecksumOffset..]);
    public Ipv4Address Source => Ipv4Address.Read(_packet[SourceOffset..]);
    public Ipv4Address Destination => Ipv4Address.Read(_packet[DestinationOffset..]);
    public ReadOnlySpan<byte> Header => _packet[..HeaderLength];
    public ReadOnlySpan<byte> Options => _packet[MinHeaderLength..HeaderLength];
    public ReadOnlySpan<byte> Payload => _packet[HeaderLength..];
    /// <summary>The packet up to Total Length.</summary>
    public ReadOnlySpan<byte> Packet => _packet;
}

/// <summary>Writes option-less IPv4 headers.</summary>
public static class Ipv4Header
{
    public const int Length = Ipv4Packet.MinHeaderLength;
    public const int MaxPayloadLength = ushort.MaxValue - Length;

    private const byte VersionAndIhl = (4 << 4) | (Length / 4);

    /// <summary>Writes a 20-byte header with a correct checksum and returns 20.</summary>
    public static int Emit(Span<byte> dst, Ipv4Address source, Ipv4Address destination, byte protocol, int payloadLength,
        byte ttl = 64, ushort identification = 0, bool dontFragment = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadLength, MaxPayloadLength);
        var h = dst[..Length];
        h[Ipv4Packet.VersionIhlOffset] = VersionAndIhl;
        h[Ipv4Packet.TosOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4Packet.TotalLengthOffset..], (ushort)(Length + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4Packet.IdentificationOffset..], identification);
        BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4Packet.FlagsFragmentOffset..], dontFragment ? Ipv4Packet.DontFragmentFlag : (ushort)0);
        h[Ipv4Packet.TtlOffset] = ttl;
        h[Ipv4Packet.ProtocolOffset] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4Packet.ChecksumOffset..], 0);
        source.Write(h[Ipv4Packet.SourceOffset..]);
        destination.Write(h[Ipv4Packet.DestinationOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4Packet.ChecksumOffset..], InternetChecksum.Compute(h));
        return Length;
    }
}
