using System.Buffers.Binary;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Udp;

/// <summary>
/// The frames the NAT sends to the guest on behalf of a remote host: a UDP datagram from the destination the guest
/// addressed, and the ICMP destination-unreachable that host would have sent. Both are written whole (Ethernet,
/// IPv4, L4) into a caller-supplied buffer, so every byte of the result is written here and none is stale.
/// </summary>
public static class NatFrames
{
    /// <summary>Ethernet + IPv4 + UDP headers in front of a reply payload.</summary>
    public const int UdpOverhead = EthernetFrame.HeaderLength + Ipv4Header.Length + UdpHeader.Length;

    /// <summary>RFC 792: an ICMP error quotes the offending datagram's IP header and its first 64 bits of data.</summary>
    public const int QuotedDataLength = 8;

    /// <summary>The longest quote: a 60-byte IP header (options) plus 8 bytes of data.</summary>
    public const int MaxQuoteLength = Ipv4Packet.MaxHeaderLength + QuotedDataLength;

    private const byte Ttl = 64;
    private const int IcmpUnusedOffset = 4;

    /// <summary>
    /// Writes a UDP datagram from <paramref name="from"/>:<paramref name="fromPort"/> to the guest and returns the
    /// frame length. <paramref name="payload"/> must not overlap <paramref name="frame"/>.
    /// </summary>
    public static int WriteUdp(Span<byte> frame, MacAddress guestMac, MacAddress gatewayMac, Ipv4Address from, ushort fromPort,
        Ipv4Address guest, ushort guestPort, ReadOnlySpan<byte> payload, ushort ipId)
    {
        var total = UdpOverhead + payload.Length;
        var f = frame[..total];
        EthernetFrame.WriteHeader(f, guestMac, gatewayMac, EtherType.Ipv4);
        var ip = f[EthernetFrame.HeaderLength..];
        var udp = ip[Ipv4Header.Length..];
        payload.CopyTo(udp[UdpHeader.Length..]);
        UdpHeader.Emit(udp, from, guest, fromPort, guestPort, payload.Length);
        Ipv4Header.Emit(ip, from, guest, IpProtocol.Udp, UdpHeader.Length + payload.Length, Ttl, ipId);
        return total;
    }

    /// <summary>Frame length of a destination-unreachable quoting <paramref name="quoteLength"/> bytes.</summary>
    public static int UnreachableLength(int quoteLength) =>
        EthernetFrame.HeaderLength + Ipv4Header.Length + IcmpPacket.HeaderLength + quoteLength;

    /// <summary>
    /// Writes an ICMP destination unreachable (type 3, <paramref name="code"/>; 3 = port unreachable) from
    /// <paramref name="from"/> to the guest, quoting <paramref name="quote"/> (the guest's IP header and the first
    /// 8 bytes of its datagram, see <see cref="Quote"/>). Returns the frame length.
    /// </summary>
    public static int WriteUnreachable(Span<byte> frame, MacAddress guestMac, MacAddress gatewayMac, Ipv4Address from,
        Ipv4Address guest, byte code, ReadOnlySpan<byte> quote, ushort ipId)
    {
        var total = UnreachableLength(quote.Length);
        var f = frame[..total];
        EthernetFrame.WriteHeader(f, guestMac, gatewayMac, EtherType.Ipv4);
        var ip = f[EthernetFrame.HeaderLength..];
        var icmp = ip[Ipv4Header.Length..];
        icmp[0] = IcmpType.DestinationUnreachable;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmp[IcmpUnusedOffset..], 0);
        quote.CopyTo(icmp[IcmpPacket.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp[..(IcmpPacket.HeaderLength + quote.Length)]));
        Ipv4Header.Emit(ip, from, guest, IpProtocol.Icmp, IcmpPacket.HeaderLength + quote.Length, Ttl, ipId);
        return total;
    }

    /// <summary>Copies the part of <paramref name="packet"/> an ICMP error quotes into <paramref name="dst"/>; returns its length.</summary>
    public static int Quote(Ipv4Packet packet, Span<byte> dst)
    {
        var n = Math.Min(packet.Packet.Length, packet.HeaderLength + QuotedDataLength);
        packet.Packet[..n].CopyTo(dst);
        return n;
    }
}
