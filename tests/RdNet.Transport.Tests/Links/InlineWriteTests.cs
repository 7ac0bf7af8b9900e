using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Buffers;
using RdNet.Transport.Framing;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using RdNet.Transport.Tests.Linux;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Links;

/// <summary>
/// Writes done by the thread that queued the frames, at the end of its burst (FrameLink.Burst): when they happen,
/// when they are left to the writer loop, and that frames leave in order whoever writes them.
/// </summary>
public sealed class InlineWriteTests(NetworkNamespaceFixture ns) : IClassFixture<NetworkNamespaceFixture>
{
    private sealed class Collect : IFrameSink
    {
        public readonly List<byte[]> Frames = [];

        public int Count
        {
            get { lock (Frames) return Frames.Count; }
        }

        public void Deliver(FrameBuffer frame)
        {
            lock (Frames) Frames.Add(frame.Span.ToArray());
            frame.Release();
        }
    }

    private static FrameBuffer Frame(FramePool pool, int length, int producer, int sequence)
    {
        FrameBuffer? f;
        while ((f = pool.TryRent(length)) is null) Thread.Yield(); // the receiver returns them
        f.Array.AsSpan(0, length).Clear();
        BinaryPrimitives.WriteInt32LittleEndian(f.Array, producer);
        BinaryPrimitives.WriteInt32LittleEndian(f.Array.AsSpan(4), sequence);
        f.SetLength(length);
        return f;
    }

    private static async Task Until(Func<bool> condition, CancellationToken ct)
    {
        while (!condition()) await Task.Delay(5, ct);
    }

    [Fact]
    public async Task Work_left_for_the_end_of_a_burst_runs_then_and_its_frames_leave_with_the_bursts()
    {
        var (ours, peer) = SocketPair.CreateStream();
        using var _ = peer;
        var pool = new FramePool(64, 4000);
        await using var link = new StreamLink(ours, "end", pool, new LinkOptions());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = link.RunAsync(new Collect(), cts.Token);

        var order = new List<string>();
        int thread = Environment.CurrentManagedThreadId, ranOn = 0;
        Assert.False(FrameLink.InBurst);
        using (FrameLink.Burst())
        {
            Assert.True(FrameLink.InBurst);
            Assert.True(link.TrySend(Frame(pool, 100, 1, 0)));
            FrameLink.AtEndOfBurst(() =>
            {
                ranOn = Environment.CurrentManagedThreadId;
                order.Add("first");
                Assert.True(link.TrySend(Frame(pool, 100, 1, 1))); // still in the burst: goes out with its frames
                FrameLink.AtEndOfBurst(() => order.Add("added by the first")); // runs in the same end
            });
            FrameLink.AtEndOfBurst(() => order.Add("second"));
            Assert.Empty(order);
        }
        Assert.Equal(["first", "second", "added by the first"], order);
        Assert.Equal(thread, ranOn);
        Assert.Equal(2 * (FrameCodec.PrefixLength + 100), peer.Available); // one inline write for both frames
        Assert.Equal(1, link.Stats.InlineWrites);
        Assert.False(FrameLink.InBurst);

        // Without a burst the work runs at once.
        bool ran = false;
        FrameLink.AtEndOfBurst(() => ran = true);
        Assert.True(ran);

        await cts.CancelAsync();
        await run;
    }

    [Fact]
    public async Task An_end_of_burst_action_that_throws_keeps_neither_the_others_nor_the_bursts_frames_from_going()
    {
        var (ours, peer) = SocketPair.CreateStream();
        using var _ = peer;
        var pool = new FramePool(64, 4000);
        await using var link = new StreamLink(ours, "throw", pool, new LinkOptions());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = link.RunAsync(new Collect(), cts.Token);

        var ran = new List<int>();
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            using (FrameLink.Burst())
            {
                Assert.True(link.TrySend(Frame(pool, 100, 1, 0)));
                FrameLink.AtEndOfBurst(() => throw new InvalidOperationException("first"));
                FrameLink.AtEndOfBurst(() => ran.Add(2));
            }
        });
        Assert.Equal("first", e.Message);
        Assert.Equal([2], ran);
        Assert.Equal(FrameCodec.PrefixLength + 100, peer.Available); // the burst's frame was still written
        Assert.False(FrameLink.InBurst);
        using (FrameLink.Burst()) FrameLink.AtEndOfBurst(() => ran.Add(3)); // nothing left over from the failed burst
        Assert.Equal([2, 3], ran);

        await cts.CancelAsync();
        await run;
    }

    [Fact]
    public async Task Frames_queued_in_a_burst_are_on_the_socket_when_the_burst_ends_written_by_the_queuing_thread()
    {
        var (ours, peer) = SocketPair.CreateStream();
        using var _ = peer;
        var pool = new FramePool(64, 4000);
        await using var link = new StreamLink(ours, "inline", pool, new LinkOptions());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = link.RunAsync(new Collect(), cts.Token);

        using (FrameLink.Burst())
        {
            for (int i = 0; i < 3; i++) Assert.True(link.TrySend(Frame(pool, 100, 1, i)));
            Assert.Equal(0, peer.Available); // nothing goes before the burst ends
        }
        // Written by this thread as the burst ended: no waiting for the writer loop.
        Assert.Equal(3 * (FrameCodec.PrefixLength + 100), peer.Available);
        Assert.Equal(1, link.Stats.InlineWrites);
        Assert.Equal(0, link.Stats.InlineDeferred);
        Assert.Equal(3, link.Stats.FramesOut);
        Assert.Equal(1, link.Stats.Writes);

        // Outside a burst the writer loop writes, as before.
        Assert.True(link.TrySend(Frame(pool, 100, 1, 3)));
        await Until(() => peer.Available == 4 * (FrameCodec.PrefixLength + 100), cts.Token);
        Assert.Equal(1, link.Stats.InlineWrites);

        await cts.CancelAsync();
        await run;
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_burst_that_outgrows_the_inline_limit_starts_the_writer_loop_at_once()
    {
        var (ours, peer) = SocketPair.CreateStream();
        var pool = new FramePool(64, 4000);
        await using var link = new StreamLink(ours, "bulk", pool, new LinkOptions(InlineWriteBytes: 4000));
        await using var receiver = new StreamLink(peer, "receiver", pool, new LinkOptions());
        var sink = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var runs = Task.WhenAll(link.RunAsync(new Collect(), cts.Token), receiver.RunAsync(sink, cts.Token));

        using (FrameLink.Burst())
        {
            for (int i = 0; i < 10; i++) Assert.True(link.TrySend(Frame(pool, 1000, 1, i)));
            // The fifth frame took the queue past 4000 bytes: the writer loop is writing while the burst goes on
            // (waited for without leaving the thread: a burst belongs to its thread).
            Assert.True(SpinWait.SpinUntil(() => sink.Count >= 5, TimeSpan.FromSeconds(10)));
        }
        await Until(() => sink.Count == 10, cts.Token);
        Assert.Equal(Enumerable.Range(0, 10), sink.Frames.Select(f => BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(4))));

        await cts.CancelAsync();
        await runs;
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task An_inline_limit_of_zero_leaves_every_write_to_the_writer_loop()
    {
        var (ours, peer) = SocketPair.CreateStream();
        using var _ = peer;
        var pool = new FramePool(64, 4000);
        await using var link = new StreamLink(ours, "off", pool, new LinkOptions(InlineWriteBytes: 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = link.RunAsync(new Collect(), cts.Token);

        using (FrameLink.Burst()) Assert.True(link.TrySend(Frame(pool, 100, 1, 0)));
        await Until(() => peer.Available == FrameCodec.PrefixLength + 100, cts.Token);
        Assert.Equal(0, link.Stats.InlineWrites);

        await cts.CancelAsync();
        await run;
    }

    [Fact]
    public async Task An_inline_write_that_fills_the_socket_leaves_the_rest_to_the_writer_loop_and_nothing_is_lost_or_reordered()
    {
        var (ours, peer) = SocketPair.CreateStream();
        ours.SendBufferSize = 4096; // the kernel's minimum: a 12 KB burst cannot go at once while nobody reads
        var pool = new FramePool(256, 4000);
        await using var link = new StreamLink(ours, "full", pool, new LinkOptions());
        await using var receiver = new StreamLink(peer, "receiver", pool, new LinkOptions());
        var sink = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var run = link.RunAsync(new Collect(), cts.Token);

        using (FrameLink.Burst())
        {
            for (int i = 0; i < 12; i++) Assert.True(link.TrySend(Frame(pool, 1000, 0, i)));
        }
        Assert.Equal(1, link.Stats.InlineDeferred);
        // More bursts while the rest is pending (and the writer loop may be blocked in its send): they queue behind it.
        using (FrameLink.Burst()) Assert.True(link.TrySend(Frame(pool, 1000, 0, 12)));
        Assert.True(link.TrySend(Frame(pool, 1000, 0, 13)));

        var receive = receiver.RunAsync(sink, cts.Token);
        await Until(() => sink.Count == 14, cts.Token);
        Assert.Equal(Enumerable.Range(0, 14), sink.Frames.Select(f => BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(4))));

        await cts.CancelAsync();
        await Task.WhenAll(run, receive);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Threads_bursting_at_once_and_the_writer_loop_share_the_link_and_each_threads_frames_arrive_complete_and_in_order()
    {
        const int Producers = 4, PerProducer = 2000;
        var (ours, peer) = SocketPair.CreateStream();
        var pool = new FramePool(4096, 4000);
        await using var link = new StreamLink(ours, "shared", pool, new LinkOptions(SendQueueFrames: 4096));
        await using var receiver = new StreamLink(peer, "receiver", new FramePool(4096, 4000), new LinkOptions());
        var sink = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var runs = Task.WhenAll(link.RunAsync(new Collect(), cts.Token), receiver.RunAsync(sink, cts.Token));

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Factory.StartNew(() =>
        {
            var random = new Random(p);
            for (int seq = 0, bursts = 0; seq < PerProducer; bursts++)
            {
                if (bursts % 8 == 7) Thread.Sleep(1); // quiet moments, in which the writer loop is idle and bursts write inline
                // Producer 0 queues outside bursts (the writer loop's work); the others in bursts of one to three frames.
                using var burst = p == 0 ? default : FrameLink.Burst();
                for (int n = random.Next(1, 4); n > 0 && seq < PerProducer; n--, seq++)
                {
                    while (!link.TrySend(Frame(pool, random.Next(60, 1500), p, seq)))
                        throw new InvalidOperationException("the queue is large enough for every frame");
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(producers);
        await Until(() => sink.Count == Producers * PerProducer, cts.Token);

        var byProducer = sink.Frames.GroupBy(f => BinaryPrimitives.ReadInt32LittleEndian(f)).ToDictionary(g => g.Key, g => g.Select(f => BinaryPrimitives.ReadInt32LittleEndian(f.AsSpan(4))).ToList());
        for (int p = 0; p < Producers; p++) Assert.Equal(Enumerable.Range(0, PerProducer), byProducer[p]);
        Assert.True(link.Stats.InlineWrites > 0, "some bursts were written by their own thread");

        await cts.CancelAsync();
        await runs;
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_burst_queued_for_a_tap_is_in_the_kernel_when_it_ends_and_what_a_tap_reads_in_one_burst_is_written_on_by_the_tap_reader()
    {
        // The vm-switch shape: a tap whose reader relays into a stream link, and frames queued for the tap by a burst.
        var tap = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("tapinl0", virtioNetHeader: true);
            NetInterface.SetAddress("tapinl0", Ipv4Address.Parse("10.97.0.1"), 24);
            NetInterface.SetUp("tapinl0");
            return t;
        });
        var pool = new FramePool(256, 4000);
        var (ours, peer) = SocketPair.CreateStream();
        await using var uplink = new StreamLink(ours, "uplink", pool, new LinkOptions());
        await using var peerLink = new StreamLink(peer, "peer", pool, new LinkOptions());
        await using var tapLink = new TapLink(tap, pool, new LinkOptions());
        var fromTap = new Collect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var runs = Task.WhenAll(
            tapLink.RunAsync(new RelaySink { Target = uplink }, cts.Token),
            uplink.RunAsync(new Collect(), cts.Token),
            peerLink.RunAsync(fromTap, cts.Token));

        using var socket = NetNamespace.RunIn(ns.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(IPAddress.Any, 7777)); // any: a socket bound to a unicast address gets no broadcasts

        // Into the tap: a broadcast datagram to the socket, queued in a burst — the kernel has it when the burst ends.
        var frame = pool.TryRent(EthernetFrame.HeaderLength + 20 + 8 + 5)!;
        var span = frame.Array.AsSpan(0, EthernetFrame.HeaderLength + 20 + 8 + 5);
        EthernetFrame.WriteHeader(span, MacAddress.Broadcast, MacAddress.Parse("02:00:00:00:00:09"), EtherType.Ipv4);
        "hello"u8.CopyTo(span[(EthernetFrame.HeaderLength + 28)..]);
        UdpHeader.Emit(span[(EthernetFrame.HeaderLength + 20)..], Ipv4Address.Parse("10.97.0.9"), Ipv4Address.Parse("10.97.0.255"), 7000, 7777, 5);
        Ipv4Header.Emit(span[EthernetFrame.HeaderLength..], Ipv4Address.Parse("10.97.0.9"), Ipv4Address.Parse("10.97.0.255"), IpProtocol.Udp, 13);
        frame.SetLength(span.Length);
        using (FrameLink.Burst()) Assert.True(tapLink.TrySend(frame));
        Assert.Equal(1, tapLink.Stats.InlineWrites);
        var buffer = new byte[64];
        socket.ReceiveTimeout = 5000;
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, socket.Receive(buffer)));

        // Out of the tap: the kernel's datagram is relayed by the tap reader, which writes it to the uplink itself.
        socket.EnableBroadcast = true;
        socket.SendTo("world"u8.ToArray(), new IPEndPoint(IPAddress.Parse("10.97.0.255"), 7001));
        await Until(() => { lock (fromTap.Frames) return fromTap.Frames.Any(f => f.AsSpan().EndsWith("world"u8)); }, cts.Token);
        // (counted just after the write, so the peer may see the frame first)
        await Until(() => uplink.Stats.InlineWrites > 0, cts.Token);

        await cts.CancelAsync();
        await runs;
        Assert.Equal(0, pool.Outstanding);
    }
}
