using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>EtherType values RdNet understands (IEEE 802.3 / IANA).</summary>
public static class EtherType
{
    public const ushort Ipv4 = 0x0800, Arp = 0x0806, Vlan = 0x8100, Ipv6 = 0x86DD;
}

/// <summary>
/// A view over an Ethernet II frame (no FCS).
/// <code>
///  0                   6                   12      14
/// +-------------------+-------------------+-------+----------
/// | destination MAC   | source MAC        | type  | payload
/// +-------------------+-------------------+-------+----------
/// </code>
/// <see cref="EtherType"/> is the type field at offset 12 as sent, and <see cref="Payload"/> starts at offset 14, so
/// an 802.1Q frame reports <see cref="Wire.EtherType.Vlan"/> with the tag at the start of its payload; the tag is
/// available through <see cref="VlanTagControl"/> and <see cref="InnerEtherType"/>. The payload includes any
/// padding to the 60-byte minimum; the next layer trims it with its own length field.
/// </summary>
public readonly ref struct EthernetFrame
{
    public const int HeaderLength = 14;
    /// <summary>Header plus the 4-byte 802.1Q tag.</summary>
    public const int VlanHeaderLength = 18;

    private const int DestinationOffset = 0;
    private const int SourceOffset = 6;
    private const int EtherTypeOffset = 12;
    private const int VlanTciOffset = 14;
    private const int VlanInnerTypeOffset = 16;

    private readonly ReadOnlySpan<byte> _frame;

    private EthernetFrame(ReadOnlySpan<byte> frame) => _frame = frame;

    public static bool TryCreate(ReadOnlySpan<byte> frame, out EthernetFrame view, out DropReason reason)
    {
        view = default;
        if (frame.Length < HeaderLength)
        {
            reason = DropReason.EthernetRunt;
            return false;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[EtherTypeOffset..]) == Wire.EtherType.Vlan && frame.Length < VlanHeaderLength)
        {
            reason = DropReason.EthernetVlanRunt;
            return false;
        }
        view = new EthernetFrame(frame);
        reason = DropReason.None;
        return true;
    }

    public MacAddress Destination => MacAddress.Read(_frame[DestinationOffset..]);
    public MacAddress Source => MacAddress.Read(_frame[SourceOffset..]);
    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(_frame[EtherTypeOffset..]);
    public ReadOnlySpan<byte> Payload => _frame[HeaderLength..];
    /// <summary>The whole frame this view was created over.</summary>
    public ReadOnlySpan<byte> Frame => _frame;

    public bool IsVlanTagged => EtherType == Wire.EtherType.Vlan;
    /// <summary>The 802.1Q tag control information (PCP, DEI, VID); 0 when the frame is untagged.</summary>
    public ushort VlanTagControl => IsVlanTagged ? BinaryPrimitives.ReadUInt16BigEndian(_frame[VlanTciOffset..]) : (ushort)0;
    /// <summary>The EtherType after an 802.1Q tag, or <see cref="EtherType"/> when the frame is untagged.</summary>
    public ushort InnerEtherType => IsVlanTagged ? BinaryPrimitives.ReadUInt16BigEndian(_frame[VlanInnerTypeOffset..]) : EtherType;

    public static void WriteHeader(Span<byte> dst, MacAddress destination, MacAddress source, ushort etherType)
    {
        destination.Write(dst[DestinationOffset..]);
        source.Write(dst[SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(dst[EtherTypeOffset..], etherType);
    }
}
