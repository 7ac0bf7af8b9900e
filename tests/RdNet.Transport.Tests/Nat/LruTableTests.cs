using FsCheck;
using FsCheck.Xunit;
using RdNet.Transport.Udp;

namespace RdNet.Transport.Tests.Nat;

public sealed class LruTableTests
{
    [Fact]
    public void A_full_table_evicts_the_least_recently_used_entry_and_a_lookup_counts_as_use()
    {
        var t = new LruTable<int, string>(2);
        Assert.False(t.Add(1, "a", out _));
        Assert.False(t.Add(2, "b", out _));
        Assert.True(t.TryGet(1, out var a));
        Assert.Equal("a", a);
        Assert.True(t.Add(3, "c", out var evicted));
        Assert.Equal(2, evicted.Key);
        Assert.Equal("b", evicted.Value);
        Assert.Equal(2, t.Count);
        Assert.False(t.TryPeek(2, out _));
        Assert.Equal([3, 1], t.InUseOrder.Select(e => e.Key));
    }

    [Fact]
    public void Peek_does_not_change_the_order_and_remove_frees_a_slot()
    {
        var t = new LruTable<int, int>(2);
        t.Add(1, 10, out _);
        t.Add(2, 20, out _);
        Assert.True(t.TryPeek(1, out _));
        Assert.True(t.Remove(2));
        Assert.False(t.Remove(2));
        Assert.False(t.Add(3, 30, out _)); // a free slot: no eviction
        Assert.True(t.Add(4, 40, out var e));
        Assert.Equal(1, e.Key);
    }

    [Fact]
    public void Adding_a_key_twice_is_a_programming_error()
    {
        var t = new LruTable<int, int>(2);
        t.Add(1, 1, out _);
        Assert.Throws<ArgumentException>(() => t.Add(1, 2, out _));
    }

    /// <summary>Against a naive model (a list in order of use), for any sequence of gets and adds.</summary>
    [Property(MaxTest = 300)]
    public void Behaves_like_a_list_in_order_of_use(PositiveInt capacity, int[] operations)
    {
        var cap = Math.Min(capacity.Get, 8);
        var t = new LruTable<int, int>(cap);
        var model = new List<int>(); // most recent first
        foreach (var op in operations)
        {
            var key = Math.Abs(op % 16);
            if (model.Contains(key))
            {
                Assert.True(t.TryGet(key, out var v));
                Assert.Equal(key * 7, v);
                model.Remove(key);
                model.Insert(0, key);
            }
            else
            {
                var evicted = t.Add(key, key * 7, out var e);
                Assert.Equal(model.Count == cap, evicted);
                if (evicted)
                {
                    Assert.Equal(model[^1], e.Key);
                    model.RemoveAt(model.Count - 1);
                }
                model.Insert(0, key);
            }
            Assert.Equal(model, t.InUseOrder.Select(x => x.Key));
        }
    }
}
