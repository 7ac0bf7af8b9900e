using System.Collections.Concurrent;
using System.Net.Sockets;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Links;

/// <summary>
/// Inline writes (LinkOptions.InlineWriteIdle): a frame for an idle, running link is written by the sending thread;
/// frames close together queue for the writer loop; the wire order is the order of the queue, and a write the socket
/// takes only in part is finished by the writer loop before anything else.
/// </summary>
public sealed class InlineWriteTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnet-inline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A link whose "transport" records which path wrote each frame (first byte = tag) and on which thread.</summary>
    private sealed class RecordingLink(FramePool pool, LinkOptions options) : FrameLink("recording", pool, options)
    {
        public readonly ConcurrentQueue<(byte Tag, bool Inline, int Thread)> Written = new();

        protected override bool TryWriteInline(FrameBuffer frame)
        {
            Written.Enqueue((frame.Array[0], true, Environment.CurrentManagedThreadId));
            frame.Release();
            return true;
        }

        protected override async Task WriteLoopAsync(CancellationToken ct)
        {
            while (await SendQueue.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                await EnterWriteAsync(ct).ConfigureAwait(false);
                try
                {
                    while (SendQueue.TryRead(out var f))
                    {
                        if (IsWake(f)) continue;
                        Written.Enqueue((f.Array[0], false, Environment.CurrentManagedThreadId));
                        f.Release();
                    }
                }
                finally
                {
                    ExitWrite();
                }
            }
        }

        protected override Task ReadLoopAsync(IFrameSink sink, CancellationToken ct) => Task.Delay(Timeout.Infinite, ct);

        protected override void CloseTransport()
        {
        }
    }

    private static FrameBuffer Tagged(FramePool pool, byte tag, int length = 60)
    {
        var f = pool.TryRent(length)!;
        Array.Fill(f.Array, tag, 0, length);
        f.SetLength(length);
        return f;
    }

    private static async Task WaitFor(Func<bool> done)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!done()) await Task.Delay(5, cts.Token);
    }

    [Fact]
    public async Task A_frame_for_an_idle_running_link_is_written_by_the_sending_thread()
    {
        var pool = new FramePool(16, 4000);
        var link = new RecordingLink(pool, new LinkOptions { InlineWriteIdle = TimeSpan.FromMilliseconds(1) });
        using var cts = new CancellationTokenSource();
        var run = link.RunAsync(new NullSink(), cts.Token);
        await Task.Delay(20);

        Assert.True(link.TrySend(Tagged(pool, 1)));

        // Written before TrySend returned, on this thread.
        Assert.Equal([(1, true, Environment.CurrentManagedThreadId)], link.Written.Select(w => ((int)w.Tag, w.Inline, w.Thread)));
        await cts.CancelAsync();
        await run;
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Frames_sent_close_together_go_to_the_writer_loop_in_order()
    {
        var pool = new FramePool(64, 4000);
        var link = new RecordingLink(pool, new LinkOptions { InlineWriteIdle = TimeSpan.FromHours(1) });
        using var cts = new CancellationTokenSource();
        var run = link.RunAsync(new NullSink(), cts.Token);
        await Task.Delay(20);
        for (byte i = 1; i <= 20; i++) Assert.True(link.TrySend(Tagged(pool, i)));
        await WaitFor(() => link.Written.Count == 20);

        var written = link.Written.ToArray();
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (byte)i), written.Select(w => w.Tag));
        Assert.True(written[0].Inline); // the link had never written: idle
        Assert.All(written.Skip(1), w => Assert.False(w.Inline)); // then within the idle time of the previous write
        await cts.CancelAsync();
        await run;
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_link_that_is_not_running_or_has_inline_writes_off_only_queues()
    {
        var pool = new FramePool(16, 4000);
        var notRunning = new RecordingLink(pool, new LinkOptions());
        Assert.True(notRunning.TrySend(Tagged(pool, 1)));
        Assert.Empty(notRunning.Written);
        notRunning.Dispose();

        var off = new RecordingLink(pool, new LinkOptions { InlineWriteIdle = TimeSpan.Zero });
        using var cts = new CancellationTokenSource();
        var run = off.RunAsync(new NullSink(), cts.Token);
        await Task.Delay(20);
        Assert.True(off.TrySend(Tagged(pool, 2)));
        await WaitFor(() => !off.Written.IsEmpty);
        Assert.False(off.Written.Single().Inline);
        await cts.CancelAsync();
        await run;
        Assert.Equal(0, pool.Outstanding);
    }

    private sealed class NullSink : IFrameSink
    {
        public void Deliver(FrameBuffer frame) => frame.Release();
    }

    private sealed class Collect : IFrameSink
    {
        public readonly List<byte[]> Frames = [];

        public void Deliver(FrameBuffer frame)
        {
            lock (Frames) Frames.Add(frame.Span.ToArray());
            frame.Release();
        }

        public int Count
        {
            get { lock (Frames) return Frames.Count; }
        }
    }

    [Fact]
    public async Task Inline_and_queued_writes_from_many_threads_keep_every_frame_whole_and_in_order()
    {
        var path = Path.Combine(_dir, "s.sock");
        var ep = LinkEndpoint.Parse($"unix://{path}");
        using var listener = ep.Listen();
        var connect = ep.ConnectAsync(CancellationToken.None);
        var ours = await listener.AcceptAsync();
        var peer = await connect;
        // The smallest buffers the kernel allows: a frame above half of it goes out in two pieces, so an inline write
        // into a socket that is partly full is taken in part and the writer loop must finish it.
        ours.SendBufferSize = 1;
        peer.ReceiveBufferSize = 1;

        var pool = new FramePool(4096, 4000);
        var sender = new StreamLink(ours, "sender", pool, new LinkOptions(SendQueueFrames: 4096) { InlineWriteIdle = TimeSpan.FromMicroseconds(1) });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var tx = sender.RunAsync(new NullSink(), cts.Token);
        await Task.Delay(20);

        const int threads = 3, perThread = 200;
        var rejected = 0;
        var senders = Enumerable.Range(0, threads).Select(t => Task.Run(() =>
        {
            var random = new Random(t);
            for (int i = 0; i < perThread; i++)
            {
                // Frame: [thread][index hi][index lo][filler that depends on both]; sizes up to the link's maximum.
                int length = random.Next(60, 3990);
                var f = pool.TryRent(length)!;
                f.Array[0] = (byte)t;
                f.Array[1] = (byte)(i >> 8);
                f.Array[2] = (byte)i;
                for (int k = 3; k < length; k++) f.Array[k] = (byte)(k * 7 + t + i);
                f.SetLength(length);
                if (!sender.TrySend(f)) Interlocked.Increment(ref rejected);
                // Idle gaps: most frames find the link idle and go inline.
                Thread.Sleep(random.Next(3, 7)); // idle gaps: the next frame goes inline
            }
        })).ToArray();

        // A slow reader (1500 bytes a millisecond, a little faster than the senders on average), so inline writes often
        // meet a socket that is partly full; frames are decoded here by hand.
        var received = new List<byte[]>();
        var pending = new List<byte>();
        var buffer = new byte[1500];
        while (received.Count < threads * perThread)
        {
            await Task.Delay(1, cts.Token);
            int n = await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.True(n > 0, "the sender closed early");
            pending.AddRange(buffer.AsSpan(0, n).ToArray());
            while (pending.Count >= 2)
            {
                int length = pending[0] | (pending[1] << 8);
                Assert.InRange(length, 60, 3990); // a torn frame shows up as a bad prefix
                if (pending.Count < 2 + length) break;
                received.Add(pending.GetRange(2, length).ToArray());
                pending.RemoveRange(0, 2 + length);
            }
        }
        await Task.WhenAll(senders);

        Assert.Equal(0, rejected);
        Assert.Empty(pending);
        var next = new int[threads];
        foreach (var frame in received)
        {
            int t = frame[0], i = (frame[1] << 8) | frame[2];
            Assert.Equal(next[t]++, i);
            for (int k = 3; k < frame.Length; k++) Assert.Equal((byte)(k * 7 + t + i), frame[k]);
        }
        Assert.All(next, n => Assert.Equal(perThread, n));
        Assert.Equal(threads * perThread, sender.Stats.FramesOut);
        await cts.CancelAsync();
        await tx.ContinueWith(_ => { });
        await sender.DisposeAsync();
        peer.Dispose();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task An_inline_write_the_socket_takes_in_part_is_finished_by_the_writer_loop_before_later_frames()
    {
        var path = Path.Combine(_dir, "p.sock");
        var ep = LinkEndpoint.Parse($"unix://{path}");
        using var listener = ep.Listen();
        var connect = ep.ConnectAsync(CancellationToken.None);
        var ours = await listener.AcceptAsync();
        var peer = await connect;
        ours.SendBufferSize = 1; // the kernel's minimum (~4.5 KiB): a 3,990-byte frame goes out in two pieces

        var pool = new FramePool(64, 4000);
        var sender = new StreamLink(ours, "sender", pool, new LinkOptions { InlineWriteIdle = TimeSpan.FromMicroseconds(1) });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var tx = sender.RunAsync(new NullSink(), cts.Token);
        await Task.Delay(20);

        byte[] Fill(int length, byte tag) => Enumerable.Range(0, length).Select(k => (byte)(k + tag)).ToArray();
        var frames = new[] { Fill(2000, 1), Fill(3990, 2), Fill(100, 3), Fill(3990, 4) };
        FrameBuffer Rent(byte[] bytes)
        {
            var f = pool.TryRent(bytes.Length)!;
            bytes.CopyTo(f.Array, 0);
            f.SetLength(bytes.Length);
            return f;
        }

        // Nobody reads yet: the first frame fits; the second fits only in part.
        Assert.True(sender.TrySend(Rent(frames[0])));
        await Task.Delay(5);
        Assert.True(sender.TrySend(Rent(frames[1])));
        Assert.Equal(2, sender.Stats.FramesOut); // both taken inline...
        await Task.Delay(50);
        Assert.True(peer.Available < 2 + 2000 + 2 + 3990, $"expected the second frame to be on the wire only in part, {peer.Available} bytes readable");
        Assert.True(sender.TrySend(Rent(frames[2]))); // queued behind the unfinished tail
        Assert.True(sender.TrySend(Rent(frames[3])));

        var wire = new List<byte>();
        var buffer = new byte[8192];
        int total = frames.Sum(f => 2 + f.Length);
        while (wire.Count < total)
        {
            int n = await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.True(n > 0);
            wire.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        var at = 0;
        foreach (var expected in frames)
        {
            int length = wire[at] | (wire[at + 1] << 8);
            Assert.Equal(expected.Length, length);
            Assert.Equal(expected, wire.GetRange(at + 2, length));
            at += 2 + length;
        }
        Assert.Equal(total, wire.Count);
        await cts.CancelAsync();
        await tx.ContinueWith(_ => { });
        await sender.DisposeAsync();
        peer.Dispose();
        Assert.Equal(0, pool.Outstanding);
    }
}
