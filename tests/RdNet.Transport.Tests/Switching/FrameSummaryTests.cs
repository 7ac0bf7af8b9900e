using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Switching;

public class FrameSummaryTests
{
    [Fact]
    public void An_arp_request_is_described_as_who_has()
    {
        var f = new byte[42];
        EthernetFrame.WriteHeader(f, MacAddress.Broadcast, new MacAddress(0x5a94_efe4_0cee), EtherType.Arp);
        new ArpMessage(ArpOperation.Request, new MacAddress(0x5a94_efe4_0cee), Ipv4Address.Parse("192.168.127.2"), MacAddress.Zero, Ipv4Address.Parse("192.168.127.1")).Emit(f.AsSpan(14));
        Assert.Equal("5a:94:ef:e4:0c:ee>ff:ff:ff:ff:ff:ff 42B ARP who-has 192.168.127.1 tell 192.168.127.2", FrameSummary.Describe(f));
    }

    [Fact]
    public void A_malformed_frame_is_described_with_its_drop_reason()
    {
        Assert.Equal("5B malformed (EthernetRunt)", FrameSummary.Describe(new byte[5]));
        var f = new byte[20];
        EthernetFrame.WriteHeader(f, MacAddress.Broadcast, new MacAddress(0x0200_0000_0001), EtherType.Ipv4);
        Assert.EndsWith("IPv4 malformed (Ipv4Truncated)", FrameSummary.Describe(f), StringComparison.Ordinal);
    }
}
