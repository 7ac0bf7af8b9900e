using RdNet.Actors.Switch;
using RdNet.Transport.Diagnostics;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Tests.Switch;

public sealed class RouterStatsTextTests
{
    [Fact]
    public void The_traffic_summary_names_each_ports_counters_and_every_drop_including_a_links_full_send_queue()
    {
        var stats = new RouterStats(
            new Dictionary<DropReason, long> { [DropReason.UnknownUnicast] = 2, [DropReason.SourceMacGroup] = 0 },
            3,
            [
                new PortInfo(1, "tap", 10, 20, 1000, 2000, new Dictionary<DropReason, long>()),
                new PortInfo(2, "host", 20, 9, 2000, 900, new Dictionary<DropReason, long> { [DropReason.EgressQueueFull] = 11 }),
            ],
            29, 0);
        Assert.Equal("tap: in 10 frames/1000 B, out 20 frames/2000 B; host: in 20 frames/2000 B, out 9 frames/900 B; CAM 3; drops UnknownUnicast=2, host:EgressQueueFull=11",
            RouterStatsText.Describe(stats));
    }

    [Fact]
    public void No_drops_read_as_none() =>
        Assert.EndsWith("drops none", RouterStatsText.Describe(new RouterStats(new Dictionary<DropReason, long>(), 0, [], 0, 0)), StringComparison.Ordinal);
}
