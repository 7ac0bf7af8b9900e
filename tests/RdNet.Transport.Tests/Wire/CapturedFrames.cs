using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

/// <summary>
/// Frames as a Linux guest (52:54:00:12:34:56, 192.168.127.2) sends them to the gateway (5a:94:ef:e4:0c:ee,
/// 192.168.127.1). Checksums were computed independently of RdNet (Python, RFC 1071).
/// </summary>
internal static class CapturedFrames
{
    public static readonly MacAddress GuestMac = MacAddress.Parse("52:54:00:12:34:56");
    public static readonly MacAddress GatewayMac = MacAddress.Parse("5a:94:ef:e4:0c:ee");
    public static readonly Ipv4Address GuestIp = new(192, 168, 127, 2);
    public static readonly Ipv4Address GatewayIp = new(192, 168, 127, 1);
    public static readonly Ipv4Address WebServerIp = new(93, 184, 216, 34);

    /// <summary>"who-has 192.168.127.1 tell 192.168.127.2", broadcast, padded to the 60-byte minimum.</summary>
    public static byte[] ArpRequest => Convert.FromHexString(
        "ffffffffffff" + "525400123456" + "0806" +
        "0001" + "0800" + "06" + "04" + "0001" + "525400123456" + "c0a87f02" + "000000000000" + "c0a87f01" +
        "000000000000000000000000000000000000");

    /// <summary>ping 192.168.127.1: id 0x0c2f seq 1, 56 data bytes (8-byte timestamp + 0x10..0x3f).</summary>
    public static byte[] IcmpEchoRequest => Convert.FromHexString(
        "5a94efe40cee" + "525400123456" + "0800" +
        "45000054" + "3bd24000" + "40017f82" + "c0a87f02" + "c0a87f01" +
        "0800843c" + "0c2f0001" +
        "1f6a9c6500000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f");

    /// <summary>DNS query "example.com IN A" from port 53412 to 53, id 0x1a2b, RD set.</summary>
    public static byte[] UdpDnsQuery => Convert.FromHexString(
        "5a94efe40cee" + "525400123456" + "0800" +
        "45000039" + "9e414000" + "40111d1e" + "c0a87f02" + "c0a87f01" +
        "d0a40035" + "0025c5dc" +
        "1a2b01000001000000000000076578616d706c6503636f6d0000010001");

    /// <summary>
    /// SYN 192.168.127.2:45678 → 93.184.216.34:80, seq 0x12345678, window 64240,
    /// options "mss 1460, sackOK, TS val 703710 ecr 0, nop, wscale 7" in Linux order.
    /// </summary>
    public static byte[] TcpSyn => Convert.FromHexString(
        "5a94efe40cee" + "525400123456" + "0800" +
        "4500003c" + "5b1a4000" + "40066a1c" + "c0a87f02" + "5db8d822" +
        "b26e0050" + "12345678" + "00000000" + "a002faf0" + "ff350000" +
        "020405b4" + "0402080a" + "000abcde" + "00000000" + "01030307");

    public const int EthernetHeader = 14;
    public const int IpHeader = 20;

    public static byte[] IpPacketOf(byte[] frame) => frame[EthernetHeader..];
    public static byte[] IpPayloadOf(byte[] frame) => frame[(EthernetHeader + IpHeader)..];
}
