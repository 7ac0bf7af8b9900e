using RdNet.Transport.Wire;

namespace RdNet.Transport.Icmp;

/// <summary>The echo reply the guest gets when the real destination answered.</summary>
public static class EchoFrames
{
    private const byte Ttl = 64;

    public static int ReplyLength(PendingEcho echo) =>
        EthernetFrame.HeaderLength + Ipv4Header.Length + IcmpPacket.HeaderLength + echo.Data.Length;

    /// <summary>
    /// Writes the reply from the recorded request only: the guest's identifier, sequence and data, from the address
    /// the guest pinged. Nothing of the host's reply is copied (it only proves the destination answered).
    /// </summary>
    public static int WriteReply(Span<byte> frame, MacAddress gatewayMac, PendingEcho echo, ushort ipId)
    {
        var total = ReplyLength(echo);
        var f = frame[..total];
        EthernetFrame.WriteHeader(f, echo.GuestMac, gatewayMac, EtherType.Ipv4);
        var ip = f[EthernetFrame.HeaderLength..];
        var icmpLength = IcmpEcho.Emit(ip[Ipv4Header.Length..], IcmpType.EchoReply, echo.Identifier, echo.Sequence, echo.Data);
        Ipv4Header.Emit(ip, echo.Destination, echo.Guest, IpProtocol.Icmp, icmpLength, Ttl, ipId);
        return total;
    }
}
