using RdNet.Transport.Switching;
using static RdNet.Transport.Tests.Switching.TestFrames;

namespace RdNet.Transport.Tests.Switching;

public class CamTableTests
{
    [Fact]
    public void A_learned_mac_is_found_and_refreshed_and_moves_with_the_station()
    {
        var cam = new CamTable(10, TimeSpan.FromSeconds(300));
        Assert.Equal(CamTable.LearnResult.Learned, cam.Learn(Mac(0x02_0000_0001), 1, 0));
        Assert.Equal(CamTable.LearnResult.Refreshed, cam.Learn(Mac(0x02_0000_0001), 1, 10));
        Assert.Equal(CamTable.LearnResult.Moved, cam.Learn(Mac(0x02_0000_0001), 2, 20));
        Assert.True(cam.TryLookup(Mac(0x02_0000_0001), out var port));
        Assert.Equal(2, port);
    }

    [Fact]
    public void The_table_never_grows_past_its_capacity()
    {
        var cam = new CamTable(100, TimeSpan.FromSeconds(300));
        for (ulong i = 0; i < 5000; i++) cam.Learn(Mac(0x02_0000_0000 + i), 1, 0);
        Assert.Equal(100, cam.Count);
        Assert.Equal(CamTable.LearnResult.Full, cam.Learn(Mac(0x02_1000_0000), 1, 0));
    }

    [Fact]
    public void Entries_age_out_after_the_ageing_time_but_static_ones_stay()
    {
        var cam = new CamTable(10, TimeSpan.FromSeconds(300));
        cam.AddStatic(Mac(0x5a94_efe4_0cdd), 0);
        cam.Learn(Mac(0x02_0000_0001), 1, 1_000);
        cam.Learn(Mac(0x02_0000_0002), 1, 200_000);
        Assert.Equal(0, cam.Age(300_999));
        Assert.Equal(1, cam.Age(301_000));
        Assert.False(cam.TryLookup(Mac(0x02_0000_0001), out _));
        Assert.True(cam.TryLookup(Mac(0x02_0000_0002), out _));
        Assert.True(cam.TryLookup(Mac(0x5a94_efe4_0cdd), out _));
    }

    [Fact]
    public void Removing_a_port_removes_all_its_entries()
    {
        var cam = new CamTable(10, TimeSpan.FromSeconds(300));
        cam.Learn(Mac(0x02_0000_0001), 1, 0);
        cam.Learn(Mac(0x02_0000_0002), 1, 0);
        cam.Learn(Mac(0x02_0000_0003), 2, 0);
        Assert.Equal(2, cam.RemovePort(1));
        Assert.Equal(1, cam.Count);
    }

    [Fact]
    public void A_static_entry_is_never_overwritten_by_learning()
    {
        var cam = new CamTable(10, TimeSpan.FromSeconds(300));
        cam.AddStatic(Mac(0x5a94_efe4_0cdd), 0);
        Assert.Equal(CamTable.LearnResult.StaticEntry, cam.Learn(Mac(0x5a94_efe4_0cdd), 3, 0));
        cam.TryLookup(Mac(0x5a94_efe4_0cdd), out var port);
        Assert.Equal(0, port);
    }
}
