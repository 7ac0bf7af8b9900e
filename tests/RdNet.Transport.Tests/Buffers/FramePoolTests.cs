using RdNet.Transport.Buffers;

namespace RdNet.Transport.Tests.Buffers;

public class FramePoolTests
{
    [Fact]
    public void Renting_past_capacity_returns_null_and_returned_buffers_are_reused()
    {
        var pool = new FramePool(2, 128);
        var a = pool.TryRent();
        var b = pool.TryRent();
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.Null(pool.TryRent());
        Assert.Equal(2, pool.Outstanding);
        a!.Release();
        var c = pool.TryRent();
        Assert.Same(a, c);
        c!.Release();
        b!.Release();
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(2, pool.Created);
    }

    [Fact]
    public void A_retained_buffer_returns_only_after_the_last_release()
    {
        var pool = new FramePool(4, 128);
        var f = pool.TryRent()!;
        f.Retain();
        f.Retain();
        f.Release();
        f.Release();
        Assert.Equal(1, pool.Outstanding);
        f.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Releasing_twice_more_than_held_is_detected()
    {
        var pool = new FramePool(4, 128);
        var f = pool.TryRent()!;
        f.Release();
        Assert.Throws<InvalidOperationException>(f.Release);
    }

    [Fact]
    public void A_rented_buffer_starts_empty_with_no_ingress()
    {
        var pool = new FramePool(1, 128);
        var f = pool.TryRent()!;
        f.SetLength(60);
        f.Ingress = 7;
        f.Release();
        var g = pool.TryRent()!;
        Assert.Equal(0, g.Length);
        Assert.Equal(0, g.Ingress);
    }
}
