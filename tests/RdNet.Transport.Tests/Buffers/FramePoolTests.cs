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
    public void After_a_burst_of_small_frames_fills_the_byte_bound_large_frames_still_get_the_whole_bound()
    {
        const int big = 65534;
        var pool = new FramePool(1000, big, 4L * big);
        var smalls = RentUntilNull(pool, 1514);
        Assert.Equal((int)(4L * big / 2048), smalls.Count);
        foreach (var f in smalls) f.Release();

        var bigs = RentUntilNull(pool, big);
        Assert.Equal(4, bigs.Count);
        Assert.All(bigs, f => Assert.Equal(big, f.Capacity));
        Assert.True(pool.CreatedBytes <= pool.MaxBytes);
        Assert.Equal(smalls.Count, pool.Reclaimed);
        foreach (var f in bigs) f.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void After_a_burst_of_large_frames_small_frames_get_small_buffers_up_to_the_byte_bound()
    {
        const int big = 65534;
        var pool = new FramePool(1000, big, 4L * big);
        var bigs = RentUntilNull(pool, big);
        Assert.Equal(4, bigs.Count);
        foreach (var f in bigs) f.Release();

        // Not 4 small frames in lent 64 KiB buffers: the freed budget holds 127 2 KiB buffers.
        var smalls = RentUntilNull(pool, 60);
        Assert.Equal((int)(4L * big / 2048), smalls.Count);
        Assert.All(smalls, f => Assert.Equal(2048, f.Capacity));
        foreach (var f in smalls) f.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void The_count_bound_is_shared_by_the_classes_too()
    {
        var pool = new FramePool(3, 65534);
        var smalls = RentUntilNull(pool, 60);
        Assert.Equal(3, smalls.Count);
        foreach (var f in smalls) f.Release();
        var bigs = RentUntilNull(pool, 65534);
        Assert.Equal(3, bigs.Count);
        Assert.Equal(3, pool.Created);
        foreach (var f in bigs) f.Release();
    }

    [Fact]
    public void Buffers_in_use_are_never_reclaimed_so_a_full_pool_still_refuses()
    {
        const int big = 65534;
        var pool = new FramePool(1000, big, 2L * big);
        var held = RentUntilNull(pool, 1514);
        Assert.Null(pool.TryRent(big));
        held[0].Release();
        Assert.Null(pool.TryRent(big)); // one free 2 KiB buffer does not make room for 64 KiB
        Assert.Equal(0, pool.Created - pool.Outstanding); // ...but it was given back trying
        foreach (var f in held.Skip(1)) f.Release();
        Assert.NotNull(pool.TryRent(big));
    }

    [Fact]
    public void Threads_renting_mixed_sizes_never_pass_the_bounds_and_return_every_buffer()
    {
        const int big = 65534;
        var pool = new FramePool(64, big, 8L * big);
        long maxSeen = 0;
        int maxCount = 0;
        Parallel.For(0, 4, t =>
        {
            var held = new Queue<FrameBuffer>();
            for (int i = 0; i < 20000; i++)
            {
                var f = pool.TryRent((i + t) % 3 == 0 ? big : 60);
                if (f is not null) held.Enqueue(f);
                if (held.Count > 6) held.Dequeue().Release();
                var bytes = pool.CreatedBytes;
                if (bytes > Interlocked.Read(ref maxSeen)) Interlocked.Exchange(ref maxSeen, bytes);
                var count = pool.Created;
                if (count > Volatile.Read(ref maxCount)) Interlocked.Exchange(ref maxCount, count);
            }
            while (held.Count > 0) held.Dequeue().Release();
        });
        Assert.True(maxSeen <= pool.MaxBytes, $"{maxSeen} bytes created, bound {pool.MaxBytes}");
        Assert.True(maxCount <= pool.Capacity);
        Assert.Equal(0, pool.Outstanding);
    }

    private static List<FrameBuffer> RentUntilNull(FramePool pool, int length)
    {
        var rented = new List<FrameBuffer>();
        while (pool.TryRent(length) is { } f) rented.Add(f);
        return rented;
    }
}
