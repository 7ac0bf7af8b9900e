using FsCheck.Xunit;
using RdNet.Transport.Tcp;

namespace RdNet.Transport.Tests.Tcp;

public class SeqNumTests
{
    [Fact]
    public void Comparisons_hold_across_the_wrap_at_2_to_the_32()
    {
        var a = new SeqNum(uint.MaxValue - 10);
        var b = a + 20;
        Assert.Equal(9u, b.Value);
        Assert.True(b > a);
        Assert.True(a < b);
        Assert.Equal(20, b - a);
        Assert.Equal(-20, a - b);
        Assert.True(new SeqNum(uint.MaxValue).InRange(a, b));
        Assert.True(new SeqNum(0).InRange(a, b));
        Assert.False(b.InRange(a, b));
    }

    [Property]
    public bool Adding_a_positive_distance_always_compares_greater(uint start, ushort distance)
    {
        var a = new SeqNum(start);
        var b = a + (distance + 1);
        return b > a && b - a == distance + 1 && (b - (distance + 1)) == a;
    }

    [Fact]
    public void Ranges_merge_trim_and_refuse_beyond_their_bound()
    {
        var r = new SeqRanges(2);
        var z = new SeqNum(uint.MaxValue - 5);
        Assert.True(r.Add(z + 10, z + 20));
        Assert.True(r.Add(z + 30, z + 40));
        Assert.False(r.Add(z + 50, z + 60)); // a third disjoint range needs a slot
        Assert.True(r.Add(z + 20, z + 30));  // bridges both
        Assert.Equal(1, r.Count);
        Assert.Equal(z + 10, r.Left(0));
        Assert.Equal(z + 40, r.Right(0));
        r.TrimBelow(z + 15);
        Assert.Equal(z + 15, r.Left(0));
        Assert.Equal(25, r.Bytes);
    }

    [Fact]
    public void The_ring_wraps_and_exposes_contiguous_runs()
    {
        var ring = new ByteRing(8);
        Assert.Equal(6, ring.Write([1, 2, 3, 4, 5, 6]));
        Span<byte> out4 = stackalloc byte[4];
        Assert.Equal(4, ring.Read(out4));
        Assert.Equal(6, ring.Write([7, 8, 9, 10, 11, 12, 13])); // only 6 fit
        Assert.Equal(8, ring.Count);
        ring.Peek(0, 8, out var a, out var b);
        Assert.Equal(new byte[] { 5, 6, 7, 8, 9, 10, 11, 12 }, (byte[])[.. a, .. b]);
        Assert.Equal(0, ring.Writable.Length);
        ring.Release();
    }
}
