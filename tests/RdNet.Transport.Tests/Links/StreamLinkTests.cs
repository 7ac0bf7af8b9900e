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

    [Theory]
    [InlineData(StreamLinkIo.Polled)]
    [InlineData(StreamLinkIo.SocketEngine)]
    public async Task Frames_split_across_reads_arrive_whole_and_in_order(StreamLinkIo io)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(64, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(), io);
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

    [Theory]
    [InlineData(StreamLinkIo.Polled)]
    [InlineData(StreamLinkIo.SocketEngine)]
    public async Task Eof_in_the_middle_of_a_frame_is_counted_and_ends_the_link_cleanly(StreamLinkIo io)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(8, 4000);
        var link = new StreamLink(ours, "test", pool, new LinkOptions(), io);
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

    [Theory]
    [InlineData(StreamLinkIo.Polled)]
    [InlineData(StreamLinkIo.SocketEngine)]
    public async Task Queued_frames_are_batched_into_few_writes_and_decoded_by_the_peer(StreamLinkIo io)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(2048, 4000);
        var sender = new StreamLink(ours, "sender", pool, new LinkOptions(SendQueueFrames: 2048), io);
        var receiver = new StreamLink(peer, "receiver", pool, new LinkOptions(), io);
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

    /// <summary>The descriptors registered with any epoll instance of this process (from /proc/self/fdinfo).</summary>
    private static HashSet<int> FdsWatchedByEpoll()
    {
        var watched = new HashSet<int>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string target;
            try { target = new FileInfo(fd).LinkTarget ?? ""; } catch (IOException) { continue; }
            if (target != "anon_inode:[eventpoll]") continue;
            string info;
            try { info = File.ReadAllText($"/proc/self/fdinfo/{Path.GetFileName(fd)}"); } catch (IOException) { continue; }
            foreach (var line in info.Split('\n'))
                if (line.StartsWith("tfd:", StringComparison.Ordinal) && int.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var tfd))
                    watched.Add(tfd);
        }
        return watched;
    }

    // The socket engine watches a registered socket for input and for room at once, edge-triggered: each time the peer
    // drains what we sent, the engine's thread wakes for nothing. A polled link never hands its socket to the engine.
    [Theory]
    [InlineData(StreamLinkIo.Polled, false)]
    [InlineData(StreamLinkIo.SocketEngine, true)]
    public async Task A_polled_link_carries_frames_both_ways_without_its_socket_ever_joining_the_socket_engine(StreamLinkIo io, bool registered)
    {
        var (ours, peer) = await PairAsync();
        var pool = new FramePool(256, 4000);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var link = new StreamLink(ours, "ours", pool, new LinkOptions(), io);
        await using var other = new StreamLink(peer, "peer", pool, new LinkOptions(), StreamLinkIo.Polled);
        var atOurs = new Collect();
        var atPeer = new Collect();
        var run = link.RunAsync(atOurs, cts.Token);
        var runOther = other.RunAsync(atPeer, cts.Token);
        for (int i = 0; i < 100; i++)
        {
            foreach (var (from, sink) in new[] { (link, atPeer), (other, atOurs) })
            {
                var f = pool.TryRent()!;
                f.Array[0] = (byte)i;
                f.SetLength(60);
                Assert.True(from.TrySend(f));
                while (true)
                {
                    lock (sink.Frames) if (sink.Frames.Count == i + 1) break;
                    await Task.Delay(1, cts.Token);
                }
            }
        }
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)i), atPeer.Frames.Select(f => f[0]));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)i), atOurs.Frames.Select(f => f[0]));
        Assert.Equal(registered, FdsWatchedByEpoll().Contains((int)ours.Handle));
        Assert.DoesNotContain((int)peer.Handle, FdsWatchedByEpoll());
        await cts.CancelAsync();
        await Task.WhenAll(run, runOther).ContinueWith(_ => { });
    }

    [Fact]
    public async Task A_links_connect_leaves_its_socket_out_of_the_socket_engine_and_a_cancelled_connect_gives_up_at_once()
    {
        var path = Path.Combine(_dir, "c.sock");
        var ep = LinkEndpoint.Parse($"unix://{path}");
        using var listener = ep.Listen(backlog: 1);
        using var connected = await ep.ConnectAsync(CancellationToken.None);
        Assert.DoesNotContain((int)connected.Handle, FdsWatchedByEpoll());

        // Nobody accepts: once the backlog is full, a connect waits in the kernel until it is cancelled.
        var waiting = new List<Socket>();
        try
        {
            Task<Socket> blocked;
            while (true)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                blocked = ep.ConnectAsync(cts.Token);
                var started = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    waiting.Add(await blocked);
                    Assert.True(waiting.Count < 10, "the backlog never filled");
                }
                catch (OperationCanceledException)
                {
                    Assert.InRange(started.ElapsedMilliseconds, 250, 3000);
                    break;
                }
            }
        }
        finally
        {
            foreach (var s in waiting) s.Dispose();
        }
    }

    [Fact]
    public async Task A_tcp_links_connect_waits_outside_the_socket_engine_and_a_refused_one_says_so()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(4);
        var port = ((System.Net.IPEndPoint)listener.LocalEndPoint!).Port;
        using var connected = await LinkEndpoint.Parse($"tcp://127.0.0.1:{port}").ConnectAsync(CancellationToken.None);
        using var accepted = listener.Accept();
        Assert.DoesNotContain((int)connected.Handle, FdsWatchedByEpoll());
        Assert.Equal(3, connected.Send(new byte[] { 1, 2, 3 }));
        var got = new byte[3];
        Assert.Equal(3, accepted.Receive(got));

        listener.Close(); // nothing listens on the port any more
        var refused = await Assert.ThrowsAsync<SocketException>(() => LinkEndpoint.Parse($"tcp://127.0.0.1:{port}").ConnectAsync(CancellationToken.None));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }
}
