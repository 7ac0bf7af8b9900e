using RdNet.Transport.Icmp;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Nat;

public sealed class EchoTableTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly Ipv4Address Dst = Ipv4Address.Parse("10.0.0.9");

    private static PendingEcho Echo(ushort seq, string host = "10.0.0.9") =>
        new(new MacAddress(0x5a94_efe4_0cee), Ipv4Address.Parse("192.168.127.2"), Ipv4Address.Parse(host), Ipv4Address.Parse(host), 1, seq, [1, 2, 3]);

    [Fact]
    public void A_reply_matches_by_sequence_and_source_once()
    {
        var t = new EchoTable(4, TimeSpan.FromSeconds(5));
        Assert.True(t.TryAdd(Echo(100), T0, out var s1));
        Assert.True(t.TryAdd(Echo(101), T0, out var s2));
        Assert.NotEqual(s1, s2);
        Assert.False(t.TryComplete(s1, Ipv4Address.Parse("10.0.0.8"), out _)); // wrong source
        Assert.True(t.TryComplete(s1, Dst, out var e));
        Assert.Equal(100, e.Sequence);
        Assert.False(t.TryComplete(s1, Dst, out _)); // once
        Assert.Equal(1, t.Count);
    }

    [Fact]
    public void The_table_is_bounded_and_entries_expire_after_the_timeout()
    {
        var t = new EchoTable(2, TimeSpan.FromSeconds(5));
        Assert.True(t.TryAdd(Echo(1), T0, out var s1));
        Assert.True(t.TryAdd(Echo(2), T0.AddSeconds(1), out _));
        Assert.False(t.TryAdd(Echo(3), T0.AddSeconds(1), out _));
        Assert.Equal(0, t.Expire(T0.AddSeconds(4.9)));
        Assert.Equal(1, t.Expire(T0.AddSeconds(5)));
        Assert.False(t.TryComplete(s1, Dst, out _)); // too late
        Assert.True(t.TryAdd(Echo(3), T0.AddSeconds(5), out _));
        Assert.Equal(1, t.Expire(T0.AddSeconds(6)));
        Assert.Equal(1, t.Count);
    }

    [Fact]
    public void Sequence_numbers_in_use_are_never_handed_out_twice_across_wrap_around()
    {
        var t = new EchoTable(3, TimeSpan.FromSeconds(5));
        Assert.True(t.TryAdd(Echo(0), T0, out var held));
        for (var i = 0; i < 70_000; i++)
        {
            Assert.True(t.TryAdd(Echo(1), T0, out var s));
            Assert.NotEqual(held, s);
            Assert.True(t.TryComplete(s, Dst, out _));
        }
        Assert.Equal(1, t.Count);
    }
}
