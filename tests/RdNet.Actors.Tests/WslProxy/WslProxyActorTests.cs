using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using RdNet.Actors.WslProxy;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.Tests.WslProxy;

/// <summary>
/// wsl-proxy's actors on loopback only: upstream servers on 127.0.0.1:P, the proxy's listeners on 127.0.0.2:P and
/// 127.0.0.3:P (the same port, since wsl-proxy relays to upstream:HostPort), upstream address 127.0.0.1.
/// </summary>
public sealed class WslProxyActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly IPAddress Proxy2 = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Proxy3 = IPAddress.Parse("127.0.0.3");

    private static readonly WslProxySettings Settings = new(
        ConnectTimeout: TimeSpan.FromSeconds(2),
        UdpIdleTimeout: TimeSpan.FromSeconds(30),
        MaxUdpFlows: 16,
        MaxConnections: 16,
        RelayBufferBytes: 4096,
        MaxListeners: 32,
        ListenBacklog: 16,
        ControlMaxBytes: 65536,
        ControlReadTimeout: TimeSpan.FromSeconds(2),
        MaxControlConnections: 4,
        ListenerMinBackoff: TimeSpan.FromMilliseconds(100),
        ListenerMaxBackoff: TimeSpan.FromMilliseconds(500),
        ShutdownDrainTimeout: TimeSpan.FromSeconds(5));

    private readonly DropCounters _drops = new();
    private readonly TestProbe _events;
    private readonly TestProbe _starts;
    private readonly List<IDisposable> _cleanup = [];
    private readonly ConcurrentQueue<Socket> _bound = new();

    public WslProxyActorTests()
    {
        _events = CreateTestProbe();
        _starts = CreateTestProbe();
        Sys.EventStream.Subscribe(_events.Ref, typeof(ListenerAdded));
        Sys.EventStream.Subscribe(_events.Ref, typeof(ListenerRemoved));
        Sys.EventStream.Subscribe(_events.Ref, typeof(MappingRejected));
        Sys.EventStream.Subscribe(_starts.Ref, typeof(ListenerStarted));
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var d in _cleanup) d.Dispose();
        base.Dispose(disposing);
    }

    private IActorRef StartProxy(string? controlPath = null, WslProxySettings? settings = null, bool closeFirstBound = false)
    {
        settings ??= Settings;
        var binds = 0;
        var config = new WslProxyConfig(settings, IPAddress.Loopback, 65536, controlPath, null, _drops, Bind: key =>
        {
            var s = ProxySockets.Bind(key, settings.ListenBacklog);
            if (closeFirstBound && Interlocked.Increment(ref binds) == 1) s.Dispose();
            _bound.Enqueue(s);
            return s;
        });
        return Sys.ActorOf(WslProxyActor.Props(config));
    }

    private static MappingDocument Doc(string json) => new(Encoding.UTF8.GetBytes(json), "test");

    private static string Add(params (string Proto, IPAddress Ip, int Port)[] bindings) => Mapping(false, bindings);

    private static string Remove(params (string Proto, IPAddress Ip, int Port)[] bindings) => Mapping(true, bindings);

    private static string Mapping(bool remove, (string Proto, IPAddress Ip, int Port)[] bindings)
    {
        var ports = bindings.GroupBy(b => $"{b.Port}/{b.Proto}")
            .Select(g => $"\"{g.Key}\":[{string.Join(",", g.Select(b => $"{{\"HostIp\":\"{b.Ip}\",\"HostPort\":\"{b.Port}\"}}"))}]");
        return $"{{\"remove\":{(remove ? "true" : "false")},\"ports\":{{{string.Join(",", ports)}}},\"connectAddrs\":null}}";
    }

    /// <summary>An upstream TCP server on 127.0.0.1:0 that answers each connection with "echo:" + what it read, after the client's EOF.</summary>
    private int StartUpstreamTcp(string prefix = "echo:")
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(16);
        _cleanup.Add(server);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket c;
                try { c = await server.AcceptAsync(); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
                _ = Task.Run(async () =>
                {
                    using var _ = c;
                    var all = new MemoryStream();
                    var buf = new byte[4096];
                    int n;
                    try
                    {
                        while ((n = await c.ReceiveAsync(buf)) > 0) all.Write(buf, 0, n);
                        // Only after the client's FIN arrived: the reply proves the other direction stayed open.
                        await c.SendAsync(Encoding.UTF8.GetBytes(prefix + Encoding.UTF8.GetString(all.ToArray())));
                        c.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException) { }
                });
            }
        });
        return ((IPEndPoint)server.LocalEndPoint!).Port;
    }

    /// <summary>An upstream UDP server on 127.0.0.1:0 that answers each datagram with "echo:" + the datagram.</summary>
    private int StartUpstreamUdp()
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _cleanup.Add(server);
        _ = Task.Run(async () =>
        {
            var buf = new byte[65536];
            while (true)
            {
                SocketReceiveFromResult r;
                try { r = await server.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0)); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
                var reply = Encoding.UTF8.GetBytes("echo:").Concat(buf.Take(r.ReceivedBytes)).ToArray();
                try { await server.SendToAsync(reply, r.RemoteEndPoint); }
                catch (SocketException) { }
            }
        });
        return ((IPEndPoint)server.LocalEndPoint!).Port;
    }

    /// <summary>Connects, sends, half-closes, reads to EOF: what the upstream answered through the relay.</summary>
    private static async Task<string> TcpExchange(IPAddress ip, int port, string message)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(ip, port)).WaitAsync(Wait);
        await c.SendAsync(Encoding.UTF8.GetBytes(message));
        c.Shutdown(SocketShutdown.Send);
        var all = new MemoryStream();
        var buf = new byte[4096];
        int n;
        while ((n = await c.ReceiveAsync(buf).WaitAsync(Wait)) > 0) all.Write(buf, 0, n);
        return Encoding.UTF8.GetString(all.ToArray());
    }

    private static bool Refused(IPAddress ip, int port)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            c.Connect(new IPEndPoint(ip, port));
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
    }

    private IReadOnlyList<ListenerKey> ListenersOf(IActorRef proxy)
    {
        proxy.Tell(GetListeners.Instance, TestActor);
        return ExpectMsg<Listeners>(Wait).Keys;
    }

    [Fact]
    public async Task An_added_tcp_mapping_relays_and_its_removal_closes_the_listener()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        var key = new ListenerKey(ProxyProtocol.Tcp, Proxy2, port);

        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(e => e.Key == key, Wait);
        Assert.Equal("echo:hello", await TcpExchange(Proxy2, port, "hello"));
        Assert.Equal([key], ListenersOf(proxy));

        proxy.Tell(Doc(Remove(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerRemoved>(e => e.Key == key, Wait);
        AwaitCondition(() => Refused(Proxy2, port), Wait);
        Assert.Empty(ListenersOf(proxy));
        Assert.Equal(0, _drops.Total);
    }

    [Fact]
    public async Task Adding_the_same_mapping_twice_keeps_one_listener_and_binds_once()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        Assert.Single(ListenersOf(proxy));
        _events.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Single(_bound);
        Assert.Equal(0, _drops[DropReason.WslProxyBindFailed]);
        Assert.Equal("echo:x", await TcpExchange(Proxy2, port, "x"));
    }

    [Fact]
    public async Task The_same_port_on_two_addresses_is_two_listeners_and_removing_one_leaves_the_other()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port), ("tcp", Proxy3, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        _events.ExpectMsg<ListenerAdded>(Wait);
        Assert.Equal(2, ListenersOf(proxy).Count);
        Assert.Equal("echo:two", await TcpExchange(Proxy2, port, "two"));
        Assert.Equal("echo:three", await TcpExchange(Proxy3, port, "three"));

        proxy.Tell(Doc(Remove(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerRemoved>(e => e.Key.Address!.Equals(Proxy2), Wait);
        AwaitCondition(() => Refused(Proxy2, port), Wait);
        Assert.Equal("echo:still", await TcpExchange(Proxy3, port, "still"));
        Assert.Equal([new ListenerKey(ProxyProtocol.Tcp, Proxy3, port)], ListenersOf(proxy));
    }

    [Fact]
    public async Task Bad_json_unknown_protocols_bad_ports_and_unbindable_addresses_are_refused_with_a_reason_and_touch_nothing_else()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);

        proxy.Tell(Doc("{\"remove\":true,\"ports\":{\"" + port + "/tcp\":[{\"HostIp\":\"127.0.0.2\",\"HostPort\":\"" + port));
        Assert.Contains("malformed JSON", _events.ExpectMsg<MappingRejected>(Wait).Reason, StringComparison.Ordinal);

        // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails, nothing is sent anywhere.
        proxy.Tell(Doc($$$"""
            {"remove":false,"ports":{
              "{{{port}}}/sctp":[{"HostIp":"127.0.0.3","HostPort":"{{{port}}}"}],
              "{{{port}}}/tcp":[{"HostIp":"127.0.0.3","HostPort":"70000"},{"HostIp":"192.0.2.1","HostPort":"{{{port}}}"},{"HostIp":"127.0.0.3","HostPort":"{{{port}}}"}]
            }}
            """));
        var reasons = new[] { _events.ExpectMsg<MappingRejected>(Wait).Reason, _events.ExpectMsg<MappingRejected>(Wait).Reason };
        Assert.Contains(reasons, r => r.Contains("unknown protocol \"sctp\"", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("HostPort \"70000\"", StringComparison.Ordinal));
        Assert.Contains("cannot listen on tcp/192.0.2.1", _events.ExpectMsg<MappingRejected>(Wait).Reason, StringComparison.Ordinal);
        _events.ExpectMsg<ListenerAdded>(e => e.Key.Address!.Equals(Proxy3), Wait);

        Assert.Equal(2, ListenersOf(proxy).Count);
        Assert.Equal("echo:ok", await TcpExchange(Proxy2, port, "ok"));
        Assert.Equal("echo:ok3", await TcpExchange(Proxy3, port, "ok3"));
        Assert.Equal(3, _drops[DropReason.WslProxyBadMapping] - _drops[DropReason.WslProxyBindFailed]);
        Assert.Equal(1, _drops[DropReason.WslProxyBindFailed]);
    }

    [Fact]
    public async Task A_port_already_taken_is_refused_and_the_next_add_after_it_frees_works()
    {
        var port = StartUpstreamTcp();
        var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(Proxy2, port));
        squatter.Listen(1);
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        Assert.Contains("AddressAlreadyInUse", _events.ExpectMsg<MappingRejected>(Wait).Reason, StringComparison.Ordinal);
        Assert.Empty(ListenersOf(proxy));
        squatter.Dispose();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        Assert.Equal("echo:late", await TcpExchange(Proxy2, port, "late"));
    }

    [Fact]
    public async Task A_remove_followed_at_once_by_an_add_of_the_same_listener_waits_for_the_port_and_serves()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        for (var i = 0; i < 5; i++)
        {
            proxy.Tell(Doc(Remove(("tcp", Proxy2, port))));
            proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
            _events.ExpectMsg<ListenerRemoved>(Wait);
            _events.ExpectMsg<ListenerAdded>(Wait);
        }
        Assert.Equal(0, _drops[DropReason.WslProxyBindFailed]);
        Assert.Equal("echo:rebound", await TcpExchange(Proxy2, port, "rebound"));
    }

    [Fact]
    public async Task A_failing_listener_is_restarted_by_its_supervisor_and_serves_again()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        var key = new ListenerKey(ProxyProtocol.Tcp, Proxy2, port);
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        _starts.ExpectMsg<ListenerStarted>(e => e.Incarnation == 1, Wait);
        Assert.True(_bound.TryDequeue(out var first));

        // The fault: the listening socket dies under the actor, so its pending accept fails.
        first!.Dispose();
        _starts.ExpectMsg<ListenerStarted>(e => e.Key == key && e.Incarnation == 2, Wait);
        Assert.Single(_bound); // bound afresh by the new incarnation
        Assert.Equal("echo:again", await TcpExchange(Proxy2, port, "again"));
        Assert.Equal([key], ListenersOf(proxy));
    }

    [Fact]
    public async Task A_listener_whose_socket_fails_before_its_first_accept_is_restarted_too()
    {
        // The socket dies between the bind and the listener's first accept (so the accept call itself throws, in PreStart).
        var port = StartUpstreamTcp();
        var proxy = StartProxy(closeFirstBound: true);
        var key = new ListenerKey(ProxyProtocol.Tcp, Proxy2, port);
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        _starts.ExpectMsg<ListenerStarted>(e => e.Key == key && e.Incarnation == 1, Wait);
        _starts.ExpectMsg<ListenerStarted>(e => e.Key == key && e.Incarnation == 2, Wait);
        Assert.Equal("echo:again", await TcpExchange(Proxy2, port, "again"));
        Assert.Equal([key], ListenersOf(proxy));
    }

    [Fact]
    public async Task Half_close_is_relayed_both_ways_and_the_connection_ends_only_when_both_sides_are_done()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);

        // The upstream answers only after it sees our FIN; a relay that closed on the first EOF would lose the answer.
        var big = new string('z', 100_000);
        Assert.Equal("echo:" + big, await TcpExchange(Proxy2, port, big));

        // The other way round: the upstream half-closes first, the client can still send and be heard.
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(1);
        _cleanup.Add(server);
        var port2 = ((IPEndPoint)server.LocalEndPoint!).Port;
        proxy.Tell(Doc(Add(("tcp", Proxy2, port2))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(Proxy2, port2));
        using var up = await server.AcceptAsync().WaitAsync(Wait);
        await up.SendAsync(Encoding.UTF8.GetBytes("banner"));
        up.Shutdown(SocketShutdown.Send);
        var buf = new byte[64];
        var got = "";
        int n;
        while ((n = await client.ReceiveAsync(buf).WaitAsync(Wait)) > 0) got += Encoding.UTF8.GetString(buf, 0, n);
        Assert.Equal("banner", got); // EOF reached the client
        await client.SendAsync(Encoding.UTF8.GetBytes("after-eof"));
        client.Shutdown(SocketShutdown.Send);
        got = "";
        while ((n = await up.ReceiveAsync(buf).WaitAsync(Wait)) > 0) got += Encoding.UTF8.GetString(buf, 0, n);
        Assert.Equal("after-eof", got);
    }

    [Fact]
    public async Task A_connection_the_upstream_refuses_is_reset_and_counted()
    {
        var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port; // bound, never listening: connects are refused
        _cleanup.Add(closed);
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var e = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            await c.ConnectAsync(new IPEndPoint(Proxy2, port));
            await c.ReceiveAsync(new byte[16]).WaitAsync(Wait);
        });
        Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        Assert.Equal(1, _drops[DropReason.WslProxyUpstreamConnectFailed]);
    }

    [Fact]
    public async Task A_udp_reply_reaches_the_client_that_asked_from_the_address_it_asked()
    {
        var port = StartUpstreamUdp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("udp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);

        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        a.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        b.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var target = new IPEndPoint(Proxy2, port);
        var large = new string('L', 60_000);
        await a.SendToAsync(Encoding.UTF8.GetBytes("from-a"), target);
        await b.SendToAsync(Encoding.UTF8.GetBytes(large), target);
        await a.SendToAsync(Encoding.UTF8.GetBytes("again-a"), target);

        async Task<(string, EndPoint)> Recv(Socket s)
        {
            var buf = new byte[65536];
            var r = await s.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0)).WaitAsync(Wait);
            return (Encoding.UTF8.GetString(buf, 0, r.ReceivedBytes), r.RemoteEndPoint);
        }

        var (a1, from) = await Recv(a);
        var (a2, _) = await Recv(a);
        var (b1, _) = await Recv(b);
        Assert.Equal(["echo:again-a", "echo:from-a"], new[] { a1, a2 }.Order().ToArray());
        Assert.Equal("echo:" + large, b1);
        Assert.Equal(target, from);
        Assert.Equal(0, _drops.Total);

        proxy.Tell(Doc(Remove(("udp", Proxy2, port))));
        _events.ExpectMsg<ListenerRemoved>(Wait);
        AwaitCondition(() =>
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                probe.Bind(target); // free again once the listener is gone
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, Wait);
    }

    [Fact]
    public async Task Drain_closes_the_listeners_at_once_and_answers_only_when_the_open_connection_has_finished()
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(1);
        _cleanup.Add(server);
        var port = ((IPEndPoint)server.LocalEndPoint!).Port;
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(Proxy2, port));
        using var up = await server.AcceptAsync().WaitAsync(Wait);

        proxy.Tell(Drain.Instance, TestActor);
        // (Probing in a loop could open a second relayed connection before the close, which the drain would rightly wait for.)
        ExpectNoMsg(TimeSpan.FromMilliseconds(500));
        Assert.True(Refused(Proxy2, port), "the listener is still open while draining");
        // The open connection still works while draining.
        await client.SendAsync(Encoding.UTF8.GetBytes("during-drain"));
        var buf = new byte[64];
        Assert.Equal("during-drain", Encoding.UTF8.GetString(buf, 0, await up.ReceiveAsync(buf).WaitAsync(Wait)));
        client.Shutdown(SocketShutdown.Send);
        up.Shutdown(SocketShutdown.Send);
        ExpectMsg<Drained>(Wait);
    }

    [Fact]
    public async Task Mappings_written_to_the_control_socket_are_applied_and_a_bad_one_is_refused()
    {
        var port = StartUpstreamTcp();
        var dir = Directory.CreateTempSubdirectory("rdna-wsl-");
        _cleanup.Add(new DirCleanup(dir.FullName));
        var path = Path.Combine(dir.FullName, "wsl-proxy.sock");
        StartProxy(path);
        AwaitCondition(() => File.Exists(path), Wait);

        async Task Write(string json)
        {
            using var c = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await c.ConnectAsync(new UnixDomainSocketEndPoint(path));
            await c.SendAsync(Encoding.UTF8.GetBytes(json + "\n"));
        }

        await Write("not json");
        Assert.Contains("malformed JSON", _events.ExpectMsg<MappingRejected>(Wait).Reason, StringComparison.Ordinal);
        await Write(Add(("tcp", Proxy2, port)));
        _events.ExpectMsg<ListenerAdded>(Wait);
        Assert.Equal("echo:via-socket", await TcpExchange(Proxy2, port, "via-socket"));
    }

    [Fact]
    public async Task An_upstream_that_never_answers_times_out_and_the_client_is_reset_while_other_connections_go_on()
    {
        // An upstream whose accept queue is full: the kernel drops further SYNs, so a connect hangs (loopback only).
        var blackhole = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blackhole.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blackhole.Listen(0);
        _cleanup.Add(blackhole);
        var port = ((IPEndPoint)blackhole.LocalEndPoint!).Port;
        for (var i = 0; i < 3; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _cleanup.Add(filler);
            _ = filler.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        }
        await Task.Delay(300);
        var good = StartUpstreamTcp();
        var proxy = StartProxy(settings: Settings with { ConnectTimeout = TimeSpan.FromMilliseconds(700) });
        proxy.Tell(Doc(Add(("tcp", Proxy2, port), ("tcp", Proxy2, good))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        _events.ExpectMsg<ListenerAdded>(Wait);

        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(Proxy2, port));
        var pending = c.ReceiveAsync(new byte[16]);
        Assert.Equal("echo:meanwhile", await TcpExchange(Proxy2, good, "meanwhile"));
        var e = await Assert.ThrowsAsync<SocketException>(async () => await pending.WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        Assert.Equal(1, _drops[DropReason.WslProxyUpstreamConnectFailed]);
    }

    [Fact]
    public async Task Udp_flows_are_capped_per_listener_and_expire_when_idle()
    {
        var port = StartUpstreamUdp();
        // The idle timeout is longer than a reply may take (a loaded 2-core runner can stall the thread pool for
        // seconds; a flow that expired before its reply came back would lose it), and the reply wait is the same.
        var idle = TimeSpan.FromSeconds(6);
        var proxy = StartProxy(settings: Settings with { MaxUdpFlows = 4, UdpIdleTimeout = idle });
        proxy.Tell(Doc(Add(("udp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        var target = new IPEndPoint(Proxy2, port);

        // Each client is a new source port; all send first (well within the idle timeout), then all wait for a reply.
        async Task<int> Burst(string name, int clients)
        {
            var sockets = Enumerable.Range(0, clients).Select(_ =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                return s;
            }).ToList();
            try
            {
                for (var i = 0; i < clients; i++) await sockets[i].SendToAsync(Encoding.UTF8.GetBytes($"{name}-{i}"), target);
                var replies = await Task.WhenAll(sockets.Select(async (s, i) =>
                {
                    var buf = new byte[64];
                    try
                    {
                        var n = await s.ReceiveAsync(buf).WaitAsync(Wait);
                        return Encoding.UTF8.GetString(buf, 0, n) == $"echo:{name}-{i}";
                    }
                    catch (TimeoutException)
                    {
                        return false;
                    }
                }));
                return replies.Count(r => r);
            }
            finally
            {
                foreach (var s in sockets) s.Dispose();
            }
        }

        Assert.Equal(4, await Burst("burst", 10));
        Assert.Equal(6, _drops[DropReason.WslProxyUdpFlowLimit]);

        // Idle flows close; the table is free again for new clients.
        await Task.Delay(idle + TimeSpan.FromSeconds(2));
        Assert.Equal(4, await Burst("later", 4));
        Assert.Equal(6, _drops[DropReason.WslProxyUdpFlowLimit]);
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_reset_and_counted()
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(16);
        _cleanup.Add(server);
        var port = ((IPEndPoint)server.LocalEndPoint!).Port;
        var proxy = StartProxy(settings: Settings with { MaxConnections = 2 });
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        var held = new List<Socket>();
        for (var i = 0; i < 2; i++)
        {
            var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _cleanup.Add(c);
            await c.ConnectAsync(new IPEndPoint(Proxy2, port));
            held.Add(await server.AcceptAsync().WaitAsync(Wait));
        }
        using var third = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // The reset may already be there when the connect completes, or come on the first read.
        var e = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            await third.ConnectAsync(new IPEndPoint(Proxy2, port));
            await third.ReceiveAsync(new byte[8]).WaitAsync(Wait);
        });
        Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        Assert.Equal(1, _drops[DropReason.WslProxyConnectionLimit]);
        foreach (var h in held) h.Dispose();
    }

    [Fact]
    public async Task Hundreds_of_connect_close_cycles_leave_no_socket_or_actor_behind()
    {
        var port = StartUpstreamTcp();
        var proxy = StartProxy();
        proxy.Tell(Doc(Add(("tcp", Proxy2, port))));
        _events.ExpectMsg<ListenerAdded>(Wait);
        Assert.Equal("echo:warm", await TcpExchange(Proxy2, port, "warm"));
        await Task.Delay(200);
        static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;
        var before = OpenDescriptors();

        for (var i = 0; i < 300; i++)
        {
            if (i % 3 == 0)
            {
                Assert.Equal($"echo:{i}", await TcpExchange(Proxy2, port, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            else
            {
                // Connect and go away at once (half the time with a reset).
                using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await c.ConnectAsync(new IPEndPoint(Proxy2, port));
                if (i % 3 == 1) c.LingerState = new LingerOption(true, 0);
            }
        }
        var listener = await Sys.ActorSelection(proxy.Path / "*" / "listener").ResolveOne(Wait);
        AwaitCondition(() => !((ActorRefWithCell)listener).Children.Any() && OpenDescriptors() <= before + 4, TimeSpan.FromSeconds(10));
        Assert.Equal("echo:after", await TcpExchange(Proxy2, port, "after"));
    }

    private sealed class DirCleanup(string path) : IDisposable
    {
        public void Dispose()
        {
            try { Directory.Delete(path, recursive: true); } catch (IOException) { }
        }
    }
}
