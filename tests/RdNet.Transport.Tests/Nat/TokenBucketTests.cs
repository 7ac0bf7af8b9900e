using RdNet.Transport.Icmp;

namespace RdNet.Transport.Tests.Nat;

public sealed class TokenBucketTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_burst_is_allowed_then_tokens_come_back_at_the_rate_up_to_the_burst()
    {
        var b = new TokenBucket(rate: 10, burst: 3, T0);
        Assert.True(b.TryTake(T0));
        Assert.True(b.TryTake(T0));
        Assert.True(b.TryTake(T0));
        Assert.False(b.TryTake(T0));
        Assert.False(b.TryTake(T0.AddMilliseconds(50)));
        Assert.True(b.TryTake(T0.AddMilliseconds(100)));
        Assert.False(b.TryTake(T0.AddMilliseconds(100)));
        // A long pause refills only up to the burst.
        var later = T0.AddHours(1);
        Assert.True(b.TryTake(later));
        Assert.True(b.TryTake(later));
        Assert.True(b.TryTake(later));
        Assert.False(b.TryTake(later));
    }

    [Fact]
    public void Time_going_backwards_adds_nothing()
    {
        var b = new TokenBucket(rate: 1, burst: 1, T0);
        Assert.True(b.TryTake(T0));
        Assert.False(b.TryTake(T0.AddSeconds(-10)));
        Assert.False(b.TryTake(T0.AddMilliseconds(500)));
        Assert.True(b.TryTake(T0.AddSeconds(1)));
    }
}
