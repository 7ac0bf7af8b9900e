using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Tests.Diagnostics;

public sealed class LatencyWindowTests
{
    [Fact]
    public void Percentiles_are_nearest_rank_over_the_samples_held()
    {
        var w = new LatencyWindow(100);
        Assert.Null(w.Percentiles(50));
        for (var i = 1; i <= 100; i++) w.Add(i);
        Assert.Equal([50.0, 90.0, 99.0, 100.0], w.Percentiles(50, 90, 99, 100)!);
    }

    [Fact]
    public void The_window_keeps_only_the_most_recent_samples_and_counts_every_one()
    {
        var w = new LatencyWindow(4);
        foreach (var ms in new double[] { 1000, 1000, 1000, 1, 2, 3, 4 }) w.Add(ms);
        Assert.Equal(4, w.Count);
        Assert.Equal(7, w.Total);
        Assert.Equal([2.0, 4.0], w.Percentiles(50, 100)!);
    }

    [Fact]
    public void A_percentile_outside_0_to_100_is_refused()
    {
        var w = new LatencyWindow(2);
        w.Add(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Percentiles(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Percentiles(101));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LatencyWindow(0));
    }
}
