using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Tests.Diagnostics;

public sealed class LimitNoticeTests
{
    [Fact]
    public void The_first_hit_is_logged_then_at_most_one_per_interval_with_the_count_of_the_others()
    {
        var n = new LimitNotice(TimeSpan.FromSeconds(10));
        Assert.True(n.Hit(1_000, out var u0));
        Assert.Equal(0, u0);
        for (var t = 1_001; t < 11_000; t += 1000) Assert.False(n.Hit(t, out _));
        Assert.True(n.Hit(11_000, out var u1));
        Assert.Equal(10, u1);
        Assert.True(n.Hit(50_000, out var u2));
        Assert.Equal(0, u2);
    }
}
