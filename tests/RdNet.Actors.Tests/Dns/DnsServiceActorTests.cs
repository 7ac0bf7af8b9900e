using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Dns;
using RdNet.Actors.Gateway;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;
using static RdNet.Actors.Dns.DnsProtocol;
using RdNet.Actors.Tests.Support;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Dns;

/// <summary>The DNS service actor: UDP frames in, reply frames out; one query actor per upstream query; DNS over TCP.</summary>
public sealed class DnsServiceActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FramePool _pool = new(256, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly CaptureSink _sink = new();
    private readonly DropCounters _drops = new();

    /// <summary>Collects the frames the service sends to the switch, releasing each buffer.</summary>
    private sealed class CaptureSink : IFrameSink
    {
        public BlockingCollection<byte[]> Frames { get; } = [];

        public void Deliver(FrameBuffer frame)
        {
            Frames.Add(frame.Span.ToArray());
            frame.Release();
        }
    }

    /// <summary>An upstream the test scripts per question name.</summary>
    private sealed class ScriptedUpstream(Func<string, byte[], Task<byte[]>> answer) : IDnsUpstream
    {
        public int Calls;

        public Task<byte[]> QueryAsync(ReadOnlyMemory<byte> query, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            var q = query.ToArray();
            if (!DnsMessage.TryParse(q, out var m, out var reason)) throw new ArgumentException(reason.ToString());
            return answer(m.FirstQuestion().Name, q);
        }

        public string Describe() => "scripted";
    }

    /// <summary>Stands for a query actor whose code throws.</summary>
    private sealed class CrashingQuery : ReceiveActor
    {
        public CrashingQuery()
        {
            Receive<string>(_ => throw new InvalidOperationException("injected fault"));
            Self.Tell("boom");
        }
    }

    private static DnsSettings Settings(int maxQueries = 16, TimeSpan? timeout = null, int maxTcp = 4) => new(
        DnsServer.DefaultZones(Ipv4Address.Parse("192.168.127.1"), Ipv4Address.Parse("192.168.127.254")),
        0, 60, 1232, timeout ?? TimeSpan.FromSeconds(5), maxQueries, maxTcp, 8, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1), 1);

    private IActorRef Service(IDnsUpstream upstream, DnsSettings settings, Func<byte[], Props>? queryProps = null) =>
        Sys.ActorOf(DnsServiceActor.Props(new DnsServer(settings.ServerOptions, _drops), upstream, settings, _sink, _pool, _net, queryProps));

    private static byte[] Query(ushort id, string name, ushort type, int? edns = null)
    {
        var b = new List<byte> { (byte)(id >> 8), (byte)id, 1, 0, 0, 1, 0, 0, 0, 0, 0, (byte)(edns is null ? 0 : 1) };
        foreach (var l in name.Split('.'))
        {
            b.Add((byte)l.Length);
            b.AddRange(Encoding.ASCII.GetBytes(l));
        }
        b.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        if (edns is { } s) b.AddRange([0, 0, 41, (byte)(s >> 8), (byte)s, 0, 0, 0, 0, 0, 0]);
        return [.. b];
    }

    /// <summary>Answers <paramref name="query"/> with rcode and A records 10.0.0.n (owner = pointer to the question).</summary>
    private static byte[] Answer(byte[] query, int rcode, params byte[] lastOctets)
    {
        if (!DnsMessage.TryParse(query, out var m, out var reason)) throw new ArgumentException(reason.ToString());
        var b = new List<byte>(query.AsSpan(0, m.QuestionEnd).ToArray());
        b[2] = 0x81;
        b[3] = (byte)(0x80 | rcode);
        b[7] = (byte)lastOctets.Length;
        b[11] = 0;
        foreach (var o in lastOctets) b.AddRange([0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 10, 0, 0, o]);
        return [.. b];
    }

    private void SendUdp(IActorRef service, byte[] dns, ushort sourcePort = 40000)
    {
        var frame = Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, sourcePort, 53, dns);
        var b = _pool.TryRent()!;
        frame.CopyTo(b.Array, 0);
        b.SetLength(frame.Length);
        service.Tell(b);
    }

    /// <summary>The DNS payload of the next reply frame, after checking its addressing.</summary>
    private byte[] NextReply(ushort expectedPort = 40000)
    {
        Assert.True(_sink.Frames.TryTake(out var f, Wait), "no reply frame");
        Assert.True(EthernetFrame.TryCreate(f, out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.Equal(GatewayMac, eth.Source);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out var r), r.ToString());
        Assert.Equal(GuestFrames.Gateway, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out r), r.ToString());
        Assert.Equal(53, udp.SourcePort);
        Assert.Equal(expectedPort, udp.DestinationPort);
        return udp.Payload.ToArray();
    }

    private static (int Id, int Rcode, int Answers) Summary(byte[] dns)
    {
        Assert.True(DnsMessage.TryParse(dns, out var m, out var reason), reason.ToString());
        return (m.Id, m.Rcode, m.AnswerCount);
    }

    private static void AssertReply(byte[] dns, int id, int rcode, int answers) => Assert.Equal((id, rcode, answers), Summary(dns));

    private DnsStats Stats(IActorRef service)
    {
        service.Tell(DnsProtocol.GetStats.Instance, TestActor);
        return ExpectMsg<DnsStats>(Wait);
    }

    [Fact]
    public void A_local_name_is_answered_in_a_frame_back_to_the_querys_source()
    {
        var service = Service(new ScriptedUpstream((_, _) => throw new InvalidOperationException("must not be asked")), Settings());
        SendUdp(service, Query(0x0A0A, "host.rancher-desktop.internal", DnsType.A), 41234);
        var reply = NextReply(41234);
        AssertReply(reply, 0x0A0A, 0, 1);
        Assert.Equal([192, 168, 127, 254], reply[^4..]);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void An_upstream_answer_is_relayed_with_the_guests_id_and_its_nxdomain_kept()
    {
        var upstream = new ScriptedUpstream((name, q) => Task.FromResult(name.StartsWith("www", StringComparison.Ordinal) ? Answer(q, 0, 7, 8) : Answer(q, DnsRcode.NxDomain)));
        var service = Service(upstream, Settings());
        SendUdp(service, Query(0x1001, "www.example.test", DnsType.A));
        AssertReply(NextReply(), 0x1001, 0, 2);
        SendUdp(service, Query(0x1002, "nothing.example.test", DnsType.A));
        AssertReply(NextReply(), 0x1002, DnsRcode.NxDomain, 0);
        Assert.Equal(2, upstream.Calls);
        AwaitAssert(() => Assert.Equal(0, Stats(service).QueriesInFlight), Wait);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void An_upstream_that_does_not_answer_in_time_gives_servfail_and_other_queries_go_on()
    {
        var upstream = new ScriptedUpstream((name, q) => name.StartsWith("slow", StringComparison.Ordinal)
            ? new TaskCompletionSource<byte[]>().Task
            : Task.FromResult(Answer(q, 0, 1)));
        var service = Service(upstream, Settings(timeout: TimeSpan.FromMilliseconds(400)));
        SendUdp(service, Query(0x2001, "slow.example.test", DnsType.A), 40001);
        SendUdp(service, Query(0x2002, "fast.example.test", DnsType.A), 40002);
        AssertReply(NextReply(40002), 0x2002, 0, 1);
        AssertReply(NextReply(40001), 0x2001, DnsRcode.ServFail, 0);
        var stats = Stats(service);
        Assert.Equal(1, stats.Drops.GetValueOrDefault(DropReason.DnsUpstreamTimeout));
        Assert.Equal(1, stats.ServerFailures);
        Assert.Equal(0, stats.QueriesInFlight);
    }

    [Fact]
    public void Queries_beyond_the_concurrency_bound_get_servfail_at_once_and_are_counted()
    {
        var never = new TaskCompletionSource<byte[]>();
        var service = Service(new ScriptedUpstream((_, _) => never.Task), Settings(maxQueries: 2, timeout: TimeSpan.FromSeconds(30)));
        SendUdp(service, Query(1, "a.example.test", DnsType.A), 40001);
        SendUdp(service, Query(2, "b.example.test", DnsType.A), 40002);
        SendUdp(service, Query(3, "c.example.test", DnsType.A), 40003);
        AssertReply(NextReply(40003), 3, DnsRcode.ServFail, 0);
        var stats = Stats(service);
        Assert.Equal(2, stats.QueriesInFlight);
        Assert.Equal(1, stats.Drops.GetValueOrDefault(DropReason.DnsQueryLimit));
        // Local answers do not take a slot.
        SendUdp(service, Query(4, "gateway.docker.internal", DnsType.A), 40004);
        AssertReply(NextReply(40004), 4, 0, 1);
    }

    [Fact]
    public void A_query_actor_that_crashes_is_stopped_without_touching_other_queries_or_the_service()
    {
        var release = new TaskCompletionSource<byte[]>();
        var upstream = new ScriptedUpstream((_, q) => release.Task.ContinueWith(_ => Answer(q, 0, 9), TaskScheduler.Default));
        var settings = Settings();
        var service = Service(upstream, settings, q =>
        {
            return DnsMessage.TryParse(q, out var m, out _) && m.FirstQuestion().Name.StartsWith("crash", StringComparison.Ordinal)
                ? Props.Create(() => new CrashingQuery())
                : DnsQueryActor.Props(q, upstream, settings.QueryTimeout);
        });
        SendUdp(service, Query(0x3001, "inflight.example.test", DnsType.A), 40001);
        AwaitCondition(() => Volatile.Read(ref upstream.Calls) == 1, Wait);
        SendUdp(service, Query(0x3002, "crash.example.test", DnsType.A), 40002);
        AssertReply(NextReply(40002), 0x3002, DnsRcode.ServFail, 0);
        Assert.Equal(1, Stats(service).Drops.GetValueOrDefault(DropReason.DnsQueryCrashed));

        // The query that was in flight during the crash still completes, and the service still answers.
        release.SetResult([]);
        AssertReply(NextReply(40001), 0x3001, 0, 1);
        SendUdp(service, Query(0x3003, "host.docker.internal", DnsType.A), 40003);
        AssertReply(NextReply(40003), 0x3003, 0, 1);
    }

    [Fact]
    public void Malformed_queries_get_formerr_or_are_dropped_and_counted()
    {
        var service = Service(new ScriptedUpstream((_, _) => throw new InvalidOperationException()), Settings());
        SendUdp(service, [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]); // pointer loop
        AssertReply(NextReply(), 7, DnsRcode.FormErr, 0);
        SendUdp(service, [0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // no question
        AssertReply(NextReply(), 8, DnsRcode.FormErr, 0);
        SendUdp(service, [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, 1, 2]); // label > 63
        AssertReply(NextReply(), 9, DnsRcode.FormErr, 0);
        SendUdp(service, [1, 2, 3]); // runt: nothing to answer
        Assert.False(_sink.Frames.TryTake(out _, TimeSpan.FromMilliseconds(300)));
        var drops = Stats(service).Drops;
        Assert.Equal(1, drops.GetValueOrDefault(DropReason.DnsPointerNotBackward));
        Assert.Equal(1, drops.GetValueOrDefault(DropReason.DnsNoQuestion));
        Assert.Equal(1, drops.GetValueOrDefault(DropReason.DnsLabelTooLong));
        Assert.Equal(1, drops.GetValueOrDefault(DropReason.DnsHeaderTruncated));
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    private static (Socket Ours, Socket Theirs) SocketPair()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rdnet-dns-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        var server = listener.Accept();
        File.Delete(path);
        return (client, server);
    }

    private static byte[] Framed(byte[] message) => [(byte)(message.Length >> 8), (byte)message.Length, .. message];

    private static async Task<byte[]?> ReadFramed(Socket s)
    {
        var prefix = new byte[2];
        using var cts = new CancellationTokenSource(Wait);
        if (!await NameserverUpstream.ReadExactlyAsync(s, prefix, cts.Token)) return null;
        var m = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        return await NameserverUpstream.ReadExactlyAsync(s, m, cts.Token) ? m : null;
    }

    [Fact]
    public async Task Several_pipelined_tcp_queries_are_each_answered_in_full()
    {
        // Forty A records: ~680 bytes, over the 512 a UDP client without EDNS could get, and sent whole over TCP.
        var upstream = new ScriptedUpstream((_, q) => Task.Delay(100).ContinueWith(_ => Answer(q, 0, [.. Enumerable.Range(1, 40).Select(i => (byte)i)]), TaskScheduler.Default));
        var service = Service(upstream, Settings());
        var (client, server) = SocketPair();
        using var _ = client;
        service.Tell(new GatewayProtocol.LocalStreamAccepted(server, Guest, 40000, 53));
        // Three queries in one write: the slow upstream one first, then two local ones.
        await client.SendAsync((byte[])[.. Framed(Query(0x4001, "big.example.test", DnsType.A)), .. Framed(Query(0x4002, "host.docker.internal", DnsType.A)), .. Framed(Query(0x4003, "nope.docker.internal", DnsType.A))], SocketFlags.None);
        var replies = new Dictionary<int, (int Id, int Rcode, int Answers)>();
        for (var i = 0; i < 3; i++)
        {
            var reply = await ReadFramed(client);
            Assert.NotNull(reply);
            var s = Summary(reply);
            replies[s.Id] = s;
            if (s.Id == 0x4001) Assert.False(reply.Length <= 512 || (reply[2] & 0x02) != 0, "TCP answer was truncated");
        }
        Assert.Equal((0x4001, 0, 40), replies[0x4001]);
        Assert.Equal((0x4002, 0, 1), replies[0x4002]);
        Assert.Equal((0x4003, (int)DnsRcode.NxDomain, 0), replies[0x4003]);

        // EOF from the client: the connection closes once everything is answered.
        client.Shutdown(SocketShutdown.Send);
        Assert.Null(await ReadFramed(client));
        AwaitAssert(() => Assert.Equal(0, Stats(service).TcpConnections), Wait);
    }

    [Fact]
    public async Task Tcp_connections_beyond_the_bound_and_a_zero_length_prefix_are_closed_and_counted()
    {
        var service = Service(new ScriptedUpstream((_, _) => throw new InvalidOperationException()), Settings(maxTcp: 1));
        var (c1, s1) = SocketPair();
        var (c2, s2) = SocketPair();
        using var _ = c1;
        using var __ = c2;
        service.Tell(new GatewayProtocol.LocalStreamAccepted(s1, Guest, 40001, 53));
        AwaitAssert(() => Assert.Equal(1, Stats(service).TcpConnections), Wait);
        service.Tell(new GatewayProtocol.LocalStreamAccepted(s2, Guest, 40002, 53));
        Assert.Null(await ReadFramed(c2));
        Assert.Equal(1, Stats(service).Drops.GetValueOrDefault(DropReason.DnsTcpConnectionLimit));

        // The first connection works, then a zero length prefix closes it.
        await c1.SendAsync(Framed(Query(0x5001, "gateway.docker.internal", DnsType.A)), SocketFlags.None);
        AssertReply((await ReadFramed(c1))!, 0x5001, 0, 1);
        await c1.SendAsync(new byte[] { 0, 0 }, SocketFlags.None);
        Assert.Null(await ReadFramed(c1));
        AwaitAssert(() =>
        {
            var stats = Stats(service);
            Assert.Equal(0, stats.TcpConnections);
            Assert.Equal(1, stats.Drops.GetValueOrDefault(DropReason.DnsTcpLengthZero));
        }, Wait);
    }

    // Issue #9: the operator's view of DNS.
    [Fact]
    public void Forwarded_queries_feed_the_latency_percentiles_in_the_stats()
    {
        var service = Service(new ScriptedUpstream((_, q) => Task.FromResult(Answer(q, 0, 1))), Settings());
        Assert.Null(Stats(service).UpstreamLatency);
        SendUdp(service, Query(0x3001, "a.example.test", DnsType.A), 40001);
        AssertReply(NextReply(40001), 0x3001, 0, 1);
        SendUdp(service, Query(0x3002, "gateway.docker.internal", DnsType.A), 40002); // local: not a forward
        AssertReply(NextReply(40002), 0x3002, 0, 1);
        var latency = Stats(service).UpstreamLatency;
        Assert.NotNull(latency);
        Assert.Equal(1, latency.Samples);
        Assert.InRange(latency.P50Ms, 0, 5000);
        Assert.Equal(latency.P50Ms, latency.P99Ms);
    }

    [Fact]
    public void Hitting_the_query_limit_is_logged_once_not_per_query()
    {
        var never = new TaskCompletionSource<byte[]>();
        var service = Service(new ScriptedUpstream((_, _) => never.Task), Settings(maxQueries: 1, timeout: TimeSpan.FromSeconds(30)));
        SendUdp(service, Query(1, "a.example.test", DnsType.A), 40001);
        EventFilter.Warning(contains: "forwarded queries in flight").Expect(1, Wait, () =>
        {
            for (ushort i = 2; i < 6; i++)
            {
                SendUdp(service, Query(i, "b.example.test", DnsType.A), (ushort)(40000 + i));
                AssertReply(NextReply((ushort)(40000 + i)), i, DnsRcode.ServFail, 0);
            }
        });
        Assert.Equal(4, Stats(service).Drops.GetValueOrDefault(DropReason.DnsQueryLimit));
    }

    [Fact]
    public async Task Each_limit_has_its_own_notice_so_a_tcp_connection_flood_does_not_silence_the_query_limit()
    {
        var never = new TaskCompletionSource<byte[]>();
        var service = Service(new ScriptedUpstream((_, _) => never.Task), Settings(maxQueries: 1, timeout: TimeSpan.FromSeconds(30), maxTcp: 1));
        var (c1, s1) = SocketPair();
        var (c2, s2) = SocketPair();
        using var _ = c1;
        using var __ = c2;
        service.Tell(new GatewayProtocol.LocalStreamAccepted(s1, Guest, 40001, 53));
        AwaitAssert(() => Assert.Equal(1, Stats(service).TcpConnections), Wait);
        EventFilter.Warning(contains: "TCP connections open").Expect(1, Wait, () =>
            service.Tell(new GatewayProtocol.LocalStreamAccepted(s2, Guest, 40002, 53)));
        Assert.Null(await ReadFramed(c2));

        // Within the notice interval, the other limit is hit for the first time: that is news, and it is logged.
        SendUdp(service, Query(1, "a.example.test", DnsType.A), 40001);
        EventFilter.Warning(contains: "forwarded queries in flight").Expect(1, Wait, () =>
        {
            SendUdp(service, Query(2, "b.example.test", DnsType.A), 40002);
            AssertReply(NextReply(40002), 2, DnsRcode.ServFail, 0);
        });
    }
}
