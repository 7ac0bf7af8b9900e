using System.Net.Sockets;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Framing;
using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Links;

/// <summary>StreamLink over a real unix socket pair: framing, batching, and row 2 of RELIABILITY (bad prefixes, EOF mid-frame).</summary>
public sealed class StreamLinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnet-link-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Collect : IFrameSink
    {
        public readonly List<byte[]> Frames = [];
        public void Deliver(FrameBuffer frame)
        {
            lock (Frames) Frames.Add(frame.Span.ToArray());
            frame.Release();
        }
    }

    private async Task<(Socket Ours, Socket Peer)> PairAsync()
    {
        var path = Path.Combine(_dir, "s.sock");
        var ep = LinkEndpoint.Parse($"unix://{path}");
        using var listener = ep.Listen();
        var connect = ep.ConnectAsync(CancellationToken.None);
        var accepted = await listener.AcceptAsync();
        return (accepted, await connect);
    }

    private static byte[] Frame(int length, byte fill)
    {
        var f = new byte[length];
        Array.Fill(f, fill);
        return f;
    }

    [Fact]
    public async Task Frames_split_across_reads_arrive_whole_and_in_order()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(64, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions());
        var sink = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = link.RunAsync(sink, cts.Token);

        var wire = new List<byte>();
        foreach (var (len, fill) in new[] { (60, (byte)1), (1514, (byte)2), (42, (byte)3) })
        {
            var buf = new byte[len + 2];
            FrameCodec.Encode(buf, Frame(len, fill));
            wire.AddRange(buf);
        }
        // Dribble the bytes in odd-sized pieces so prefixes and frames straddle reads.
        var bytes = wire.ToArray();
        for (int i = 0; i < bytes.Length; i += 7)
        {
            await peer.SendAsync(bytes.AsMemory(i, Math.Min(7, bytes.Length - i)));
            if (i % 140 == 0) await Task.Delay(1);
        }
        peer.Shutdown(SocketShutdown.Send);
        await run;
        Assert.Equal([60, 1514, 42], sink.Frames.Select(f => f.Length));
        Assert.All(sink.Frames[1], b => Assert.Equal(2, b));
        Assert.Equal(0, pool.Outstanding);
        peer.Dispose();
    }

    [Theory]
    [InlineData(0x00, 0x00, DropReason.FrameLengthZero)]
    [InlineData(0xFF, 0xFF, DropReason.FrameLengthTooLarge)]
    public async Task A_bad_length_prefix_ends_the_link_with_a_counted_reason_and_no_frame_allocated(byte lo, byte hi, DropReason reason)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(8, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions());
        var sink = new Collect();
        var run = link.RunAsync(sink, CancellationToken.None);
        await peer.SendAsync(new byte[] { lo, hi, 1, 2, 3 });
        var ex = await Assert.ThrowsAsync<LinkFailedException>(() => run);
        Assert.IsType<LinkProtocolException>(ex.InnerException);
        Assert.Equal(1, link.Stats.Drops[reason]);
        Assert.Empty(sink.Frames);
        Assert.Equal(0, pool.Created); // rejected before any buffer was taken
        peer.Dispose();
    }

    [Theory]
    [InlineData(4000)]
    [InlineData(9014)]
    [InlineData(65534)]
    public async Task A_frame_of_exactly_the_limit_arrives_and_one_byte_more_is_counted_and_ends_the_link_before_allocating(int limit)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(16, limit);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(MaxFrameLength: limit));
        var sink = new Collect();
        var run = link.RunAsync(sink, CancellationToken.None);

        var wire = new List<byte>();
        byte fill = 1;
        foreach (var len in new[] { limit, limit + 1 })
        {
            var buf = new byte[len + 2];
            FrameCodec.Encode(buf, Frame(len, fill++));
            wire.AddRange(buf);
        }
        var bytes = wire.ToArray();
        // The peer may see the link close before it has written everything.
        try
        {
            for (int i = 0; i < bytes.Length; i += 5000)
                await peer.SendAsync(bytes.AsMemory(i, Math.Min(5000, bytes.Length - i)));
        }
        catch (SocketException)
        {
        }
        var ex = await Assert.ThrowsAsync<LinkFailedException>(() => run);
        Assert.IsType<LinkProtocolException>(ex.InnerException);

        Assert.Equal([limit], sink.Frames.Select(f => f.Length));
        Assert.All(sink.Frames[0], b => Assert.Equal(1, b));
        Assert.Equal(1, link.Stats.Drops[DropReason.FrameLengthTooLarge]);
        Assert.Equal(1, pool.Created); // only the frame that fit took a buffer
        Assert.Equal(0, pool.Outstanding);
        peer.Dispose();
    }

    [Fact]
    public async Task A_frame_of_65535_bytes_the_largest_the_prefix_carries_arrives_whole()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(16, FrameCodec.MaxEncodableLength);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(MaxFrameLength: FrameCodec.MaxEncodableLength));
        var sink = new Collect();
        var run = link.RunAsync(sink, CancellationToken.None);
        var buf = new byte[FrameCodec.MaxEncodableLength + 2];
        FrameCodec.Encode(buf, Frame(FrameCodec.MaxEncodableLength, 9));
        await peer.SendAsync(buf);
        peer.Shutdown(SocketShutdown.Send);
        await run;
        Assert.Equal([FrameCodec.MaxEncodableLength], sink.Frames.Select(f => f.Length));
        Assert.Equal(0, pool.Outstanding);
        peer.Dispose();
    }

    [Fact]
    public async Task Small_frames_on_a_64_KiB_link_take_2_KiB_buffers()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(16, 65534);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(MaxFrameLength: 65534));
        var held = new List<FrameBuffer>();
        var sink = new HoldSink(held);
        var run = link.RunAsync(sink, CancellationToken.None);
        var buf = new byte[1516];
        FrameCodec.Encode(buf, Frame(1514, 7));
        await peer.SendAsync(buf);
        await peer.SendAsync(buf);
        peer.Shutdown(SocketShutdown.Send);
        await run;
        Assert.Equal(2, held.Count);
        Assert.All(held, f => Assert.Equal(2048, f.Capacity));
        Assert.Equal(2 * 2048, pool.CreatedBytes);
        foreach (var f in held) f.Release();
        Assert.Equal(0, pool.Outstanding);
        peer.Dispose();
    }

    private sealed class HoldSink(List<FrameBuffer> held) : IFrameSink
    {
        public void Deliver(FrameBuffer frame)
        {
            lock (held) held.Add(frame);
        }
    }

    [Fact]
    public async Task Eof_in_the_middle_of_a_frame_is_counted_and_ends_the_link_cleanly()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(8, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions());
        var run = link.RunAsync(new Collect(), CancellationToken.None);
        await peer.SendAsync(new byte[] { 100, 0, 1, 2, 3 });
        peer.Shutdown(SocketShutdown.Send);
        await run;
        Assert.Equal(1, link.Stats.Drops[DropReason.FrameTruncatedAtEof]);
        Assert.Contains("EOF in the middle", link.EndReason, StringComparison.Ordinal);
        peer.Dispose();
    }

    [Fact]
    public async Task Eof_in_the_middle_of_a_prefix_is_counted_too()
    {
        var (ours, peer) = await PairAsync();
        var link = new StreamLink(ours, "test", new FramePool(8, 4000), new LinkOptions());
        var run = link.RunAsync(new Collect(), CancellationToken.None);
        await peer.SendAsync(new byte[] { 100 });
        peer.Shutdown(SocketShutdown.Send);
        await run;
        Assert.Equal(1, link.Stats.Drops[DropReason.FrameTruncatedAtEof]);
        peer.Dispose();
    }

    [Fact]
    public async Task Queued_frames_are_batched_into_few_writes_and_decoded_by_the_peer()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(2048, 4000);
        var sender = new StreamLink(ours, "sender", pool, new LinkOptions(SendQueueFrames: 2048));
        var receiver = new StreamLink(peer, "receiver", pool, new LinkOptions());
        var sink = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        // Queue everything before the writer starts, so batching is deterministic.
        for (int i = 0; i < 1000; i++)
        {
            var f = pool.TryRent()!;
            Array.Fill(f.Array, (byte)(i & 0xFF), 0, 1000);
            f.SetLength(1000);
            Assert.True(sender.TrySend(f));
        }
        var rx = receiver.RunAsync(sink, cts.Token);
        var tx = sender.RunAsync(new Collect(), cts.Token);
        while (true)
        {
            lock (sink.Frames) if (sink.Frames.Count == 1000) break;
            await Task.Delay(10, cts.Token);
        }
        Assert.Equal(1000, sender.Stats.FramesOut);
        Assert.True(sender.Stats.Writes <= 1000 / 60 + 2, $"expected batched writes, got {sender.Stats.Writes}");
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (byte)(i & 0xFF)), sink.Frames.Select(f => f[0]));
        await cts.CancelAsync();
        await Task.WhenAll(rx, tx).ContinueWith(_ => { });
        await sender.DisposeAsync();
        await receiver.DisposeAsync();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_full_send_queue_drops_and_counts_instead_of_growing()
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(16, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(SendQueueFrames: 4));
        var accepted = 0;
        for (int i = 0; i < 10; i++)
        {
            var f = pool.TryRent()!;
            f.SetLength(60);
            if (link.TrySend(f)) accepted++;
        }
        Assert.Equal(4, accepted);
        Assert.Equal(6, link.Stats.Drops[DropReason.EgressQueueFull]);
        await link.DisposeAsync();
        Assert.Equal(0, pool.Outstanding);
        peer.Dispose();
    }
}
