using RdNet.Transport.Diagnostics;
using RdNet.Transport.Switching;
using RdNet.Transport.Wire;
using static RdNet.Transport.Tests.Switching.TestFrames;

namespace RdNet.Transport.Tests.Switching;

public class SwitchCoreTests
{
    private static readonly MacAddress Gw = new(0x5a94_efe4_0cdd);
    private static readonly MacAddress A = new(0x0200_0000_000A);
    private static readonly MacAddress B = new(0x0200_0000_000B);

    private static SwitchCore Core(int capacity = 100)
    {
        var core = new SwitchCore(new CamTable(capacity, TimeSpan.FromMinutes(5)), new DropCounters());
        core.Cam.AddStatic(Gw, 0);
        return core;
    }

    [Fact]
    public void Broadcast_is_flooded_and_its_source_learned()
    {
        var core = Core();
        var d = core.Decide(Ethernet(MacAddress.Broadcast, A), 1, 0);
        Assert.Equal(SwitchAction.Flood, d.Action);
        Assert.True(core.Cam.TryLookup(A, out var p));
        Assert.Equal(1, p);
    }

    [Fact]
    public void Known_unicast_is_forwarded_to_its_port()
    {
        var core = Core();
        core.Decide(Ethernet(MacAddress.Broadcast, B), 2, 0);
        var d = core.Decide(Ethernet(B, A), 1, 0);
        Assert.Equal(SwitchAction.Forward, d.Action);
        Assert.Equal(2, d.Port);
    }

    [Fact]
    public void Unknown_unicast_is_dropped_and_counted_not_flooded()
    {
        var core = Core();
        var d = core.Decide(Ethernet(B, A), 1, 0);
        Assert.Equal(SwitchAction.Drop, d.Action);
        Assert.Equal(1, core.Drops[DropReason.UnknownUnicast]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(13)]
    public void Runt_frames_are_counted_drops(int length)
    {
        var core = Core();
        var d = core.Decide(new byte[length], 1, 0);
        Assert.Equal(DropReason.EthernetRunt, d.Reason);
        Assert.Equal(1, core.Drops[DropReason.EthernetRunt]);
    }

    [Fact]
    public void A_vlan_tag_on_a_too_short_frame_is_a_counted_drop()
    {
        var core = Core();
        var f = Ethernet(MacAddress.Broadcast, A, EtherType.Vlan, payload: 2);
        Assert.Equal(DropReason.EthernetVlanRunt, core.Decide(f, 1, 0).Reason);
    }

    [Fact]
    public void Multicast_or_broadcast_source_macs_are_dropped_and_never_learned()
    {
        var core = Core();
        Assert.Equal(DropReason.SourceMacGroup, core.Decide(Ethernet(MacAddress.Broadcast, MacAddress.Broadcast), 1, 0).Reason);
        Assert.Equal(DropReason.SourceMacGroup, core.Decide(Ethernet(MacAddress.Broadcast, new MacAddress(0x0100_5e00_0001)), 1, 0).Reason);
        Assert.Equal(DropReason.SourceMacZero, core.Decide(Ethernet(MacAddress.Broadcast, MacAddress.Zero), 1, 0).Reason);
        Assert.Equal(1, core.Cam.Count); // only the gateway's static entry
    }

    [Fact]
    public void A_guest_spoofing_the_gateway_mac_is_dropped_and_the_gateway_stays_on_its_port()
    {
        var core = Core();
        var d = core.Decide(Ethernet(MacAddress.Broadcast, Gw), 3, 0);
        Assert.Equal(DropReason.SourceMacIsGateway, d.Reason);
        core.Cam.TryLookup(Gw, out var port);
        Assert.Equal(0, port);
        // The gateway itself, on its own port, is switched normally.
        Assert.Equal(SwitchAction.Flood, core.Decide(Ethernet(MacAddress.Broadcast, Gw), 0, 0).Action);
    }

    [Fact]
    public void Thousands_of_source_macs_fill_the_table_to_its_cap_and_are_counted()
    {
        var core = Core(capacity: 256);
        for (ulong i = 0; i < 10_000; i++)
            core.Decide(Ethernet(MacAddress.Broadcast, new MacAddress(0x0200_0000_0000 + i)), 1, 0);
        Assert.Equal(256, core.Cam.Count);
        Assert.Equal(10_000 - 255, core.Drops[DropReason.CamTableFull]);
    }

    [Fact]
    public void A_frame_for_a_mac_on_the_ingress_port_is_not_sent_back()
    {
        var core = Core();
        core.Decide(Ethernet(MacAddress.Broadcast, B), 1, 0);
        Assert.Equal(DropReason.HairpinToIngress, core.Decide(Ethernet(B, A), 1, 0).Reason);
    }
}

public class SwitchCoreUplinkTests
{
    [Fact]
    public void With_an_uplink_unknown_unicast_goes_up_instead_of_being_dropped()
    {
        var core = new SwitchCore(new CamTable(16, TimeSpan.FromMinutes(5)), new DropCounters()) { UplinkPort = 2 };
        var d = core.Decide(Ethernet(new MacAddress(0x5a94_efe4_0cdd), new MacAddress(0x5a94_efe4_0cee)), 1, 0);
        Assert.Equal(SwitchAction.Forward, d.Action);
        Assert.Equal(2, d.Port);
        // ...but never back up the uplink it came from.
        var back = core.Decide(Ethernet(new MacAddress(0x0200_0000_0099), new MacAddress(0x5a94_efe4_0cdd)), 2, 0);
        Assert.Equal(DropReason.UnknownUnicast, back.Reason);
    }
}
