using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

public static class ArpOperation
{
    public const ushort Request = 1, Reply = 2;
}

/// <summary>
/// A view over an ARP packet (RFC 826), restricted to Ethernet hardware and IPv4 protocol addresses.
/// <code>
///  0       2       4   5   6       8           14      18          24      28
/// +-------+-------+---+---+-------+-----------+-------+-----------+-------+
/// | htype | ptype |hln|pln|  op   | sender HW |sndr IP| target HW |tgt IP |
/// +-------+-------+---+---+-------+-----------+-------+-----------+-------+
/// </code>
/// </summary>
public readonly ref struct ArpPacket
{
    public const int Length = 28;
    public const ushort HardwareTypeEthernet = 1;

    private const int HardwareTypeOffset = 0;
    private const int ProtocolTypeOffset = 2;
    private const int HardwareLengthOffset = 4;
    private const int ProtocolLengthOffset = 5;
    private const int OperationOffset = 6;
    private const int SenderHardwareOffset = 8;
    private const int SenderProtocolOffset = 14;
    private const int TargetHardwareOffset = 18;
    private const int TargetProtocolOffset = 24;

    private readonly ReadOnlySpan<byte> _packet;

    private ArpPacket(ReadOnlySpan<byte> packet) => _packet = packet;

    /// <summary>Creates a view over the first 28 bytes of <paramref name="payload"/> (Ethernet padding is ignored).</summary>
    public static bool TryCreate(ReadOnlySpan<byte> payload, out ArpPacket view, out DropReason reason)
    {
        view = default;
        if (payload.Length < Length)
        {
            reason = DropReason.ArpTruncated;
            return false;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(payload[HardwareTypeOffset..]) != HardwareTypeEthernet
            || payload[HardwareLengthOffset] != MacAddress.Length)
        {
            reason = DropReason.ArpUnsupportedHardware;
            return false;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(payload[ProtocolTypeOffset..]) != EtherType.Ipv4
            || payload[ProtocolLengthOffset] != Ipv4Address.Length)
        {
            reason = DropReason.ArpUnsupportedProtocol;
            return false;
        }
        view = new ArpPacket(payload[..Length]);
        reason = DropReason.None;
        return true;
    }

    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_packet[OperationOffset..]);
    public MacAddress SenderHardware => MacAddress.Read(_packet[SenderHardwareOffset..]);
    public Ipv4Address SenderProtocol => Ipv4Address.Read(_packet[SenderProtocolOffset..]);
    public MacAddress TargetHardware => MacAddress.Read(_packet[TargetHardwareOffset..]);
    public Ipv4Address TargetProtocol => Ipv4Address.Read(_packet[TargetProtocolOffset..]);

    internal static void Write(Span<byte> dst, ushort operation, MacAddress senderHardware, Ipv4Address senderProtocol,
        MacAddress targetHardware, Ipv4Address targetProtocol)
    {
        var p = dst[..Length];
        BinaryPrimitives.WriteUInt16BigEndian(p[HardwareTypeOffset..], HardwareTypeEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(p[ProtocolTypeOffset..], EtherType.Ipv4);
        p[HardwareLengthOffset] = MacAddress.Length;
        p[ProtocolLengthOffset] = Ipv4Address.Length;
        BinaryPrimitives.WriteUInt16BigEndian(p[OperationOffset..], operation);
        senderHardware.Write(p[SenderHardwareOffset..]);
        senderProtocol.Write(p[SenderProtocolOffset..]);
        targetHardware.Write(p[TargetHardwareOffset..]);
        targetProtocol.Write(p[TargetProtocolOffset..]);
    }
}

/// <summary>An Ethernet/IPv4 ARP packet as an immutable value.</summary>
public sealed record ArpMessage(ushort Operation, MacAddress SenderHardware, Ipv4Address SenderProtocol, MacAddress TargetHardware, Ipv4Address TargetProtocol)
{
    public const int EncodedLength = ArpPacket.Length;

    public static ArpMessage Parse(ArpPacket view) =>
        new(view.Operation, view.SenderHardware, view.SenderProtocol, view.TargetHardware, view.TargetProtocol);

    /// <summary>Writes the 28-byte packet; <paramref name="dst"/> must hold at least <see cref="EncodedLength"/> bytes.</summary>
    public void Emit(Span<byte> dst) => ArpPacket.Write(dst, Operation, SenderHardware, SenderProtocol, TargetHardware, TargetProtocol);
}
