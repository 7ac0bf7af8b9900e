using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Gateway;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Tcp;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Tests.Tcp;

/// <summary>
/// The TCP NAT between a guest TCP stack (engines on the test thread) and real loopback sockets: connect first then
/// SYN-ACK, data both ways, half-close, refusals as RST, the egress policy, gateway-local ports, bounds and a flow
/// that fails on its own.
/// </summary>
public sealed class TcpNatActorTests : TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly FramePool _pool = new(4096, 1600);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly DropCounters _drops = new();
    private readonly GuestTcpStack _guest;
    private readonly TcpListener _server = new(IPAddress.Loopback, 0);
    private IActorRef _nat = ActorRefs.Nobody;

    public TcpNatActorTests()
    {
        _guest = new GuestTcpStack(_pool, _net);
        _server.Start();
    }

    private ushort ServerPort => (ushort)((IPEndPoint)_server.LocalEndpoint).Port;

    private IActorRef StartNat(TcpNatSettings? settings = null, EgressPolicy? egress = null, IReadOnlyDictionary<ushort, IActorRef>? local = null)
    {
        _nat = Sys.ActorOf(TcpNatActor.Props(_guest, _pool, _drops, _net,
            egress ?? new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []), settings ?? TcpNatSettings.Default with { IdleCheckInterval = TimeSpan.FromSeconds(1) }, local));
        _guest.Nat = _nat;
        return _nat;
    }

    private TcpNatProtocol.TcpNatStats Stats()
    {
        _nat.Tell(TcpNatProtocol.GetStats.Instance, TestActor);
        return ExpectMsg<TcpNatProtocol.TcpNatStats>(Wait);
    }

    /// <summary>A loopback listener with a full accept queue (backlog 0, one connection waiting): it drops SYNs, so a connect to it never completes.</summary>
    private static (Socket Listener, Socket Filler, ushort Port) BlackHole()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = (ushort)((IPEndPoint)listener.LocalEndPoint!).Port;
        var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        filler.Connect(IPAddress.Loopback, port);
        return (listener, filler, port);
    }

    private static byte[] Drain(TcpConnection c)
    {
        var buf = new byte[c.ReceivedCount];
        c.Read(buf);
        return buf;
    }

    [Fact]
    public async Task A_guest_connection_reaches_the_host_socket_and_both_directions_half_close_independently()
    {
        StartNat();
        var (conn, _) = _guest.Connect(_net.HostAlias, ServerPort);
        using var host = await _server.AcceptSocketAsync().WaitAsync(Wait);
        Assert.True(_guest.RunUntil(() => conn.IsEstablished, Wait), $"guest state {conn.State}");
        Assert.True(conn.Negotiated(out var ws, out var sack, out var ts));
        Assert.True(ws && sack && ts);

        // Guest → host, then the guest shuts down its sending side.
        var up = new byte[300_000];
        Random.Shared.NextBytes(up);
        int written = 0;
        var got = new MemoryStream();
        var hostBuf = new byte[65536];
        var hostRead = Task.Run(async () =>
        {
            int n;
            while ((n = await host.ReceiveAsync(hostBuf, SocketFlags.None)) > 0) got.Write(hostBuf, 0, n);
        });
        Assert.True(_guest.RunUntil(() => hostRead.IsCompleted, Wait, () =>
        {
            if (written < up.Length) written += conn.Write(up.AsSpan(written));
            else conn.ShutdownSend();
        }), "the host never saw EOF");
        Assert.Equal(up, got.ToArray());
        Assert.Equal(TcpState.FinWait2, conn.State);

        // The host still answers on the half-closed connection, then closes.
        var down = new byte[200_000];
        Random.Shared.NextBytes(down);
        await host.SendAsync(down, SocketFlags.None);
        host.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        Assert.True(_guest.RunUntil(() => conn.PeerFinished && conn.ReceivedCount == 0, Wait, () => received.Write(Drain(conn))), $"guest state {conn.State}");
        Assert.Equal(down, received.ToArray());
        Assert.Equal(TcpState.TimeWait, conn.State);
        Assert.True(_guest.RunUntil(() => Stats().Flows == 0, Wait), "the flow never finished");
        Assert.Equal(1, Stats().FlowsOpened);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Flows_run_on_the_inline_dispatcher_unless_turned_off_and_carry_data_either_way(bool inLine)
    {
        StartNat(TcpNatSettings.Default with { RunFlowsInLine = inLine });
        var (conn, _) = _guest.Connect(_net.HostAlias, ServerPort);
        using var host = await _server.AcceptSocketAsync().WaitAsync(Wait);
        Assert.True(_guest.RunUntil(() => conn.IsEstablished, Wait), $"guest state {conn.State}");
        var flow = await Sys.ActorSelection(_nat.Path / "*").ResolveOne(Wait);
        Assert.Equal(inLine ? InlineDispatcher.Id : "akka.actor.default-dispatcher", ((LocalActorRef)flow).Cell.Dispatcher.Id);

        // A request and its answer, the answer arriving as a completion of the flow's pending host read.
        Assert.Equal(4, conn.Write("ping"u8));
        var buf = new byte[16];
        var request = host.ReceiveAsync(buf, SocketFlags.None);
        Assert.True(_guest.RunUntil(() => request.IsCompleted, Wait), "the host never got the request");
        Assert.Equal(4, await request);
        Assert.Equal("ping"u8.ToArray(), buf[..4]);
        await host.SendAsync("pong"u8.ToArray(), SocketFlags.None);
        var got = new MemoryStream();
        Assert.True(_guest.RunUntil(() => got.Length >= 4, Wait, () => got.Write(Drain(conn))));
        Assert.Equal("pong"u8.ToArray(), got.ToArray());
    }

    [Fact]
    public void A_closed_host_port_answers_the_syn_with_rst()
    {
        StartNat();
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = (ushort)((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var (conn, _) = _guest.Connect(_net.HostAlias, port);
        Assert.True(_guest.RunUntil(() => conn.IsClosed, Wait), $"guest state {conn.State}");
        Assert.Equal(TcpError.Refused, conn.Error);
        Assert.Equal(1, _drops[DropReason.TcpNatConnectFailed]);
        Assert.True(_guest.RunUntil(() => Stats() is { Flows: 0, ConnectsInFlight: 0 }, Wait));
    }

    [Theory]
    [InlineData("169.254.169.254", DropReason.EgressLinkLocal, false)] // cloud metadata, refused by default
    [InlineData("169.254.169.254", DropReason.EgressNotAllowed, true)]
    [InlineData("10.1.2.3", DropReason.EgressNotAllowed, true)]
    [InlineData("127.0.0.1", DropReason.EgressMartian, true)]
    public void A_destination_the_egress_policy_refuses_gets_rst_and_no_socket(string address, DropReason reason, bool allowList)
    {
        StartNat(egress: allowList ? null : EgressPolicy.Default);
        var (conn, _) = _guest.Connect(Ipv4Address.Parse(address), 80);
        Assert.True(_guest.RunUntil(() => conn.IsClosed, Wait));
        Assert.Equal(TcpError.Refused, conn.Error);
        Assert.Equal(1, _drops[reason]);
        Assert.Equal(0, Stats().FlowsOpened);
    }

    [Fact]
    public void A_gateway_port_hands_a_connected_socket_to_its_service_and_an_unknown_port_is_refused()
    {
        StartNat(local: new Dictionary<ushort, IActorRef> { [53] = TestActor });
        var (conn, port) = _guest.Connect(_net.Gateway, 53);
        var accepted = ExpectMsg<GatewayProtocol.LocalStreamAccepted>(Wait);
        using var service = accepted.Socket;
        Assert.Equal((_net.Guest, port, (ushort)53), (accepted.GuestAddress, accepted.GuestPort, accepted.LocalPort));
        Assert.True(_guest.RunUntil(() => conn.IsEstablished, Wait));
        conn.Write("question"u8);
        var buf = new byte[64];
        int n = 0;
        Assert.True(_guest.RunUntil(() => service.Available >= 8, Wait));
        n = service.Receive(buf);
        Assert.Equal("question", System.Text.Encoding.ASCII.GetString(buf, 0, n));
        service.Send("answer"u8);
        Assert.True(_guest.RunUntil(() => conn.ReceivedCount == 6, Wait));
        Assert.Equal("answer"u8.ToArray(), Drain(conn));

        var (other, _) = _guest.Connect(_net.Gateway, 8080);
        Assert.True(_guest.RunUntil(() => other.IsClosed, Wait));
        Assert.Equal(TcpError.Refused, other.Error);
        Assert.Equal(1, _drops[DropReason.TcpNatLocalPortClosed]);
    }

    [Fact]
    public void A_segment_for_no_flow_is_answered_with_rst_and_a_stray_rst_is_only_counted()
    {
        StartNat();
        _guest.SendRaw(41000, _net.HostAlias, ServerPort, new TcpSegmentOut(new SeqNum(10), new SeqNum(777), TcpFlags.Ack, 1000, default));
        _guest.SendRaw(41001, _net.HostAlias, ServerPort, new TcpSegmentOut(new SeqNum(10), default, TcpFlags.Rst, 0, default));
        // Both counted, and the RST answering the first has reached the guest (the count can be seen before the frame).
        Assert.True(_guest.RunUntil(() => _drops[DropReason.TcpNatNoFlow] == 2 && !_guest.Stray.IsEmpty, Wait));
        Assert.True(_guest.Stray.TryDequeue(out var rst));
        Assert.Equal((TcpFlags.Rst, (ushort)41000, 777u), (rst.Flags, rst.DstPort, rst.Seq));
        Assert.True(_guest.Stray.IsEmpty);
    }

    [Fact]
    public void Beyond_the_flow_bound_new_syns_are_dropped_and_every_path_frees_its_slot()
    {
        StartNat(TcpNatSettings.Default with { MaxFlows = 2 });
        // RELIABILITY row 12: SYN then RST of our SYN-ACK, repeated beyond the limit.
        for (int i = 0; i < 6; i++)
        {
            var (c, port) = _guest.Connect(_net.HostAlias, ServerPort);
            Assert.True(_guest.RunUntil(() => c.IsEstablished, Wait), $"round {i}: {c.State}");
            _guest.Abort(port, _net.HostAlias, ServerPort);
            Assert.True(_guest.RunUntil(() => Stats().Flows == 0, Wait), $"round {i}: the flow never went away");
        }
        var (a, _) = _guest.Connect(_net.HostAlias, ServerPort);
        var (b, _) = _guest.Connect(_net.HostAlias, ServerPort);
        Assert.True(_guest.RunUntil(() => a.IsEstablished && b.IsEstablished, Wait));
        var (third, _) = _guest.Connect(_net.HostAlias, ServerPort);
        Assert.True(_guest.RunUntil(() => _drops[DropReason.TcpNatFlowTableFull] >= 1, Wait));
        Assert.Equal(TcpState.SynSent, third.State);
        Assert.Equal(2, Stats().Flows);
    }

    [Fact]
    public void Each_limit_has_its_own_notice_so_a_full_flow_table_does_not_silence_the_connect_limit()
    {
        var (blackHole, filler, holePort) = BlackHole();
        using var _ = blackHole;
        using var __ = filler;

        StartNat(TcpNatSettings.Default with { MaxFlows = 2, MaxConnectsInFlight = 1, ConnectTimeout = TimeSpan.FromSeconds(30) });
        var (open, openPort) = _guest.Connect(_net.HostAlias, ServerPort);
        Assert.True(_guest.RunUntil(() => open.IsEstablished, Wait));
        _guest.Connect(_net.HostAlias, holePort); // never completes: holds the one connect slot
        Assert.True(_guest.RunUntil(() => Stats().ConnectsInFlight == 1, Wait));

        // Two flows: the table is full.
        ushort refusedPort = 0;
        EventFilter.Warning(contains: "flow table full").Expect(1, Wait, () =>
        {
            refusedPort = _guest.Connect(_net.HostAlias, ServerPort).Port;
            Assert.True(_guest.RunUntil(() => _drops[DropReason.TcpNatFlowTableFull] >= 1, Wait));
        });
        // The refused connection gives up, so its SYN retransmissions cannot hit the other limit before the check below.
        _guest.Abort(refusedPort, _net.HostAlias, ServerPort);

        // One flow goes; within the notice interval the other limit is hit for the first time: that is news, logged.
        _guest.Abort(openPort, _net.HostAlias, ServerPort);
        Assert.True(_guest.RunUntil(() => Stats().Flows == 1, Wait));
        EventFilter.Warning(contains: "connects already in flight").Expect(1, Wait, () =>
        {
            _guest.Connect(_net.HostAlias, ServerPort);
            Assert.True(_guest.RunUntil(() => _drops[DropReason.TcpNatConnectsInFlightFull] >= 1, Wait));
        });
    }

    [Fact]
    public void Connects_to_a_destination_that_never_answers_time_out_with_rst_while_other_connections_go_on()
    {
        // RELIABILITY row 13.
        var (blackHole, filler, holePort) = BlackHole();
        using var _ = blackHole;
        using var __ = filler;

        StartNat(TcpNatSettings.Default with { ConnectTimeout = TimeSpan.FromMilliseconds(400), MaxConnectsInFlight = 3 });
        var stuck = Enumerable.Range(0, 3).Select(_ => _guest.Connect(_net.HostAlias, holePort).Conn).ToList();
        Assert.True(_guest.RunUntil(() => Stats().ConnectsInFlight == 3, Wait));
        // The connect slots are all taken: a new SYN is dropped (the guest will retransmit it).
        var (late, _) = _guest.Connect(_net.HostAlias, ServerPort);
        Assert.True(_guest.RunUntil(() => _drops[DropReason.TcpNatConnectsInFlightFull] >= 1, Wait));
        Assert.True(_guest.RunUntil(() => stuck.All(c => c.IsClosed), Wait), "the stuck connects were never reset");
        Assert.All(stuck, c => Assert.Equal(TcpError.Refused, c.Error));
        Assert.Equal(3, _drops[DropReason.TcpNatConnectTimeout]);
        // Every slot came back: the late connection gets through on the guest's SYN retransmission.
        Assert.True(_guest.RunUntil(() => late.IsEstablished, Wait), $"late connection {late.State}");
        Assert.Equal(0, Stats().ConnectsInFlight);
    }

    [Fact]
    public void A_loopback_connect_to_a_listener_with_a_full_queue_completes_once_the_queue_has_room()
    {
        var (listener, filler, port) = BlackHole();
        using var _ = listener;
        using var __ = filler;
        StartNat(TcpNatSettings.Default with { ConnectTimeout = TimeSpan.FromSeconds(30) });
        var (conn, _) = _guest.Connect(_net.HostAlias, port);
        Assert.True(_guest.RunUntil(() => Stats().ConnectsInFlight == 1, Wait));
        _guest.RunUntil(() => false, TimeSpan.FromMilliseconds(300));
        Assert.Equal(TcpState.SynSent, conn.State); // no SYN-ACK before the host connection exists

        using var first = listener.Accept(); // room: the host socket's next SYN gets through
        Assert.True(_guest.RunUntil(() => conn.IsEstablished, Wait), $"guest state {conn.State}");
        using var host = listener.Accept();
        conn.Write("late but whole"u8);
        var buf = new byte[32];
        Assert.True(_guest.RunUntil(() => host.Available >= 14, Wait));
        Assert.Equal("late but whole", System.Text.Encoding.ASCII.GetString(buf, 0, host.Receive(buf)));
        Assert.Equal(0, Stats().ConnectsInFlight);
    }

    /// <summary>Records the thread and TCP flags of each frame the NAT and its flows send to the guest.</summary>
    private sealed class ThreadSink : IFrameSink
    {
        public readonly System.Collections.Concurrent.ConcurrentQueue<(int Thread, TcpFlags Flags, ushort GuestPort)> Seen = new();

        public void Deliver(FrameBuffer frame)
        {
            var f = frame.Span; // Ethernet 14 + IPv4 20 (the gateway's frames carry no IP options) + TCP
            Seen.Enqueue((Environment.CurrentManagedThreadId, (TcpFlags)f[14 + 20 + 13], System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(f[(14 + 20 + 2)..])));
            frame.Release();
        }
    }

    [Fact]
    public void A_SYN_to_a_loopback_port_is_answered_on_the_link_readers_thread_before_its_burst_ends()
    {
        // With flows in line (the default) the NAT is on the inline dispatcher too: the SYN, the loopback connect, the
        // new flow's first turn and its SYN-ACK all happen in the reader's turn — no other thread is woken.
        var settings = TcpNatSettings.Default;
        Assert.True(settings.RunFlowsInLine);
        var sink = new ThreadSink();
        var flows = new TcpFlowTable();
        var nat = Sys.ActorOf(TcpNatActor.InLineWhenSet(
            TcpNatActor.Props(sink, _pool, _drops, _net, new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []), settings, flows: flows), settings, Sys));
        var fastPath = new GatewayFastPath(Support.GatewayRig.Core(_net, _pool, [GatewayService.Tcp]), flows);
        fastPath.SetTcpService(nat);

        bool SynAnsweredInLine(ushort guestPort)
        {
            var syn = Support.GuestFrames.TcpFrame(_net.GuestMac, _net.GatewayMac, _net.Guest, _net.HostAlias, guestPort, ServerPort, TcpFlags.Syn, []);
            bool taken = false, answered = false;
            var reader = new Thread(() =>
            {
                var frame = _pool.TryRent(syn.Length)!;
                syn.CopyTo(frame.Array, 0);
                frame.SetLength(syn.Length);
                using (FrameLink.Burst()) taken = fastPath.TryTake(frame);
                var me = Environment.CurrentManagedThreadId;
                answered = sink.Seen.Any(s => s.GuestPort == guestPort && s.Thread == me && s.Flags.HasFlag(TcpFlags.Syn | TcpFlags.Ack));
            });
            reader.Start();
            Assert.True(reader.Join(Wait));
            Assert.True(taken, "the fast path did not take the SYN");
            return answered;
        }

        // The NAT's start-up run (on the pool) may still be going when the first SYN comes, which then only queues.
        ushort port = 41000;
        bool idle = false;
        for (int attempt = 0; attempt < 100 && !idle; attempt++)
        {
            idle = SynAnsweredInLine(port++);
            if (!idle) Thread.Sleep(10);
        }
        Assert.True(idle, "no SYN was answered on the reader's thread within its burst");
        // Idle from here on: every SYN is answered in its reader's turn — not only when the host connect happens to
        // have completed on another thread in time. (Three tries of twenty in a row: a loaded machine may defer a
        // loopback handshake to ksoftirqd, and that connect then completes a moment later, on the pool.)
        int[] inLine = new int[3];
        for (int round = 0; round < inLine.Length && (round == 0 || inLine[round - 1] < 20); round++)
            for (int i = 0; i < 20; i++)
                if (SynAnsweredInLine(port++)) inLine[round]++;
        Assert.Contains(20, inLine);
        Assert.Equal(0, _drops[DropReason.TcpNatConnectFailed]);
    }

    [Fact]
    public async Task A_failing_flow_resets_its_guest_and_closes_its_socket_while_its_sibling_keeps_working()
    {
        StartNat();
        var (victim, _) = _guest.Connect(_net.HostAlias, ServerPort);
        using var victimHost = await _server.AcceptSocketAsync().WaitAsync(Wait);
        var (sibling, _) = _guest.Connect(_net.HostAlias, ServerPort);
        using var siblingHost = await _server.AcceptSocketAsync().WaitAsync(Wait);
        Assert.True(_guest.RunUntil(() => victim.IsEstablished && sibling.IsEstablished, Wait));

        // The first flow created is f0.
        var flow = await Sys.ActorSelection(_nat.Path / "f0").ResolveOne(Wait);
        Watch(flow);
        flow.Tell(TcpNatProtocol.InjectFault.Instance);
        ExpectTerminated(flow, Wait);
        Assert.True(_guest.RunUntil(() => victim.IsClosed, Wait));
        Assert.Equal(TcpError.Reset, victim.Error);
        var buf = new byte[16];
        var eof = await Task.Run(() =>
        {
            try { return victimHost.Receive(buf) == 0; }
            catch (SocketException) { return true; } // reset
        }).WaitAsync(Wait);
        Assert.True(eof);

        sibling.Write("still here"u8);
        Assert.True(_guest.RunUntil(() => siblingHost.Available >= 10, Wait));
        Assert.Equal(10, siblingHost.Receive(buf));
        Assert.Equal(1, Stats().Flows);
    }

    [Fact]
    public void A_dial_into_a_guest_that_never_sent_a_SYN_goes_to_the_MAC_the_gateway_learned_for_it()
    {
        var other = new Ipv4Address(192, 168, 127, 3);
        var learned = MacAddress.Parse("02:00:00:00:00:03");
        var neighbors = new NeighborTable(_net, 16, _drops);
        Assert.True(neighbors.Learn(other, learned));
        using var frames = new Support.FrameCollector();
        var nat = Sys.ActorOf(TcpNatActor.Props(frames, _pool, _drops, _net, new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []),
            TcpNatSettings.Default, gatewayNeighbors: neighbors));
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        nat.Tell(new TcpNatProtocol.DialGuest(a, other, 8080, 40000, 40010), TestActor);
        nat.Tell(new TcpNatProtocol.DialGuest(b, _net.Guest, 8080, 40000, 40010), TestActor);
        ExpectMsg<TcpNatProtocol.GuestDialStarted>(Wait);
        ExpectMsg<TcpNatProtocol.GuestDialStarted>(Wait);
        static bool SynTo(byte[] f, Ipv4Address to) => f.Length >= 54 && Ipv4Address.Read(f.AsSpan(30)) == to && (f[47] & (byte)TcpFlags.Syn) != 0;
        var toOther = frames.Receive(Wait, f => SynTo(f, other));
        Assert.NotNull(toOther);
        Assert.Equal(learned, MacAddress.Read(toOther.AsSpan(0, 6)));
        // An address the gateway never learned keeps the configured guest MAC.
        var toGuest = frames.Receive(Wait, f => SynTo(f, _net.Guest));
        Assert.NotNull(toGuest);
        Assert.Equal(_net.GuestMac, MacAddress.Read(toGuest.AsSpan(0, 6)));
    }

    protected override void Dispose(bool disposing)
    {
        _server.Stop();
        base.Dispose(disposing);
    }
}
