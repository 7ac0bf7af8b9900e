using RdNet.Transport.Buffers;

namespace RdNet.Transport.Tests.Buffers;

public class FramePoolTests
{
    private static readonly int[] FrameLengths = [60, 1514, 2048, 2049, 9014, 16384, 16385, 65534];

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

    [Fact]
    public void A_frame_rents_the_smallest_class_that_holds_it()
    {
        var pool = new FramePool(16, 65534);
        Assert.Equal([2048, 9216, 16384, 65534], pool.ClassSizes);
        var sizes = FrameLengths
            .Select(n => { var f = pool.TryRent(n)!; var c = f.Capacity; f.Release(); return c; });
        Assert.Equal([2048, 2048, 2048, 9216, 9216, 16384, 65534, 65534], sizes);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void A_pool_whose_largest_frame_is_small_has_one_class_of_that_size()
    {
        var pool = new FramePool(4, 1600);
        Assert.Equal([1600], pool.ClassSizes);
        Assert.Equal(1600, pool.TryRent(60)!.Capacity);
    }

    [Fact]
    public void Renting_more_than_the_largest_frame_is_a_caller_error()
    {
        var pool = new FramePool(4, 4000);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.TryRent(4001));
    }

    [Fact]
    public void The_byte_bound_stops_new_large_buffers_while_small_ones_still_fit()
    {
        // Room for one 64 KiB buffer and a few 2 KiB ones.
        var pool = new FramePool(100, 65534, 65534 + 4 * 2048);
        var big = pool.TryRent(65534);
        Assert.NotNull(big);
        Assert.Null(pool.TryRent(20000));
        var small = Enumerable.Range(0, 4).Select(_ => pool.TryRent(1514)).ToList();
        Assert.All(small, Assert.NotNull);
        Assert.Null(pool.TryRent(60));
        Assert.True(pool.CreatedBytes <= pool.MaxBytes);
        foreach (var f in small) f!.Release();
        big!.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void At_its_bounds_a_class_borrows_a_free_buffer_of_a_larger_class()
    {
        var pool = new FramePool(1, 65534);
        var big = pool.TryRent(65534)!;
        big.Release();
        var small = pool.TryRent(60);
        Assert.Same(big, small);
        small!.Release();
        // ...and the lent buffer goes back to its own class.
        Assert.Same(big, pool.TryRent(65534));
    }
}
