using System.Net.Http;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Forwarding;
using RdNet.Actors.Forwarding.Api;
using RdNet.Actors.Gateway;
using RdNet.Actors.Observability;
using RdNet.Actors.Tcp;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Tests.Forwarding;

/// <summary>
/// The forwarder and its forwards with a probe standing in for the gateway's TCP stack: unix forwards (socket files
/// in a temp directory, no network listener), a forwarded-connection actor that crashes, a listener that fails, a
/// stack that never answers, and the host-side API's /stats route.
/// </summary>
public sealed class ForwarderActorTests : TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("rdnet-fwd-");

    /// <summary>Stands in for the TCP stack's flow: owns the host socket and closes it when stopped.</summary>
    private sealed class SocketOwner : ReceiveActor
    {
        private readonly Socket _socket;

        public SocketOwner(Socket socket)
        {
            _socket = socket;
            ReceiveAny(_ => { });
        }

        protected override void PostStop() => _socket.Dispose();
    }

    private string Path(string name) => System.IO.Path.Combine(_dir.FullName, name);

    private (IActorRef Forwarder, Akka.TestKit.TestProbe Gateway) Start(ForwardingSettings? settings = null)
    {
        var gateway = CreateTestProbe();
        var forwarder = Sys.ActorOf(ForwarderActor.Props(_net, settings ?? ForwardingSettings.Default, new DropCounters(), gateway.Ref));
        return (forwarder, gateway);
    }

    private void Expose(IActorRef forwarder, string path)
    {
        forwarder.Tell(new ForwarderProtocol.Expose(path, "tcp://192.168.127.2:8080", "unix", null), TestActor);
        ExpectMsg<Done>(Wait);
    }

    private static async Task<Socket> ConnectUnix(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return s;
    }

    /// <summary>The dial the forward's connection actor sends to the gateway, and that actor.</summary>
    private static (TcpNatProtocol.DialGuest Dial, IActorRef Connection) ExpectDial(Akka.TestKit.TestProbe gateway)
    {
        var m = gateway.ExpectMsg<GatewayProtocol.ToService>(Wait);
        Assert.Equal(GatewayService.Tcp, m.Service);
        return ((TcpNatProtocol.DialGuest)m.Message, gateway.LastSender);
    }

    private static async Task<bool> ClosedByPeer(Socket s)
    {
        try
        {
            using var cts = new CancellationTokenSource(Wait);
            return await s.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token) == 0;
        }
        catch (SocketException)
        {
            return true; // reset
        }
    }

    private ForwarderStats Stats(IActorRef forwarder)
    {
        forwarder.Tell(GetStats.Instance, TestActor);
        return ExpectMsg<ForwarderStats>(Wait);
    }

    [Fact]
    public async Task A_forwarded_connection_actor_that_crashes_is_stopped_its_sockets_closed_and_the_forward_keeps_accepting()
    {
        var (forwarder, gateway) = Start();
        var path = Path("a.sock");
        Expose(forwarder, path);

        using var client1 = await ConnectUnix(path);
        var (dial, connection) = ExpectDial(gateway);
        Assert.Equal("192.168.127.2", dial.Guest.ToString());
        Assert.Equal(8080, dial.GuestPort);
        var flow = Sys.ActorOf(Props.Create(() => new SocketOwner(dial.HostSocket)));
        gateway.Reply(new TcpNatProtocol.GuestDialStarted(flow, default));
        Watch(connection);
        Watch(flow);
        AwaitAssert(() => Assert.Equal(1, Stats(forwarder).Connections), Wait);

        connection.Tell(InjectFault.Instance);
        ExpectTerminated(connection, Wait);
        ExpectTerminated(flow, Wait); // the connection's flow is stopped with it ...
        Assert.True(await ClosedByPeer(client1)); // ... and the host client sees its socket closed
        AwaitAssert(() => Assert.Equal(0, Stats(forwarder).Connections), Wait);

        using var client2 = await ConnectUnix(path);
        var (dial2, _) = ExpectDial(gateway);
        dial2.HostSocket.Dispose();
        // The count reaches the forwarder after the dial reaches the gateway (two senders): wait for it.
        AwaitAssert(() => Assert.Equal(2, Stats(forwarder).Accepted), Wait);
    }

    [Fact]
    public async Task A_connection_actor_that_crashes_before_the_stack_answered_closes_the_client_itself()
    {
        var (forwarder, gateway) = Start();
        var path = Path("b.sock");
        Expose(forwarder, path);
        using var client = await ConnectUnix(path);
        var (_, connection) = ExpectDial(gateway);
        Watch(connection);
        connection.Tell(InjectFault.Instance);
        ExpectTerminated(connection, Wait);
        Assert.True(await ClosedByPeer(client));
    }

    [Fact]
    public async Task A_connection_the_stack_never_takes_is_closed_after_the_answer_timeout()
    {
        var (forwarder, gateway) = Start(ForwardingSettings.Default with { DialAnswerTimeout = TimeSpan.FromMilliseconds(300) });
        var path = Path("c.sock");
        Expose(forwarder, path);
        using var client = await ConnectUnix(path);
        ExpectDial(gateway); // and never answered
        Assert.True(await ClosedByPeer(client));
        AwaitAssert(() => Assert.Equal(0, Stats(forwarder).Connections), Wait);
    }

    [Fact]
    public async Task A_refused_dial_closes_nothing_twice_and_the_connection_goes()
    {
        var (forwarder, gateway) = Start();
        var path = Path("d.sock");
        Expose(forwarder, path);
        using var client = await ConnectUnix(path);
        var (dial, connection) = ExpectDial(gateway);
        Watch(connection);
        dial.HostSocket.Dispose(); // the stack closes what it refuses
        gateway.Reply(new TcpNatProtocol.GuestDialRefused("no free gateway port"));
        ExpectTerminated(connection, Wait);
        Assert.True(await ClosedByPeer(client));
    }

    [Fact]
    public async Task A_forward_whose_listener_fails_is_removed_and_the_others_keep_working()
    {
        var (forwarder, gateway) = Start();
        var first = Path("e1.sock");
        var second = Path("e2.sock");
        Expose(forwarder, first);
        Expose(forwarder, second);
        var failing = await Sys.ActorSelection(forwarder.Path / "unix-0").ResolveOne(Wait);
        Watch(failing);
        failing.Tell(InjectFault.Instance);
        ExpectTerminated(failing, Wait);

        AwaitAssert(() =>
        {
            forwarder.Tell(List.Instance, TestActor);
            var list = ExpectMsg<ForwardList>(Wait).Forwards;
            Assert.Equal([second], list.Select(f => f.Local));
        }, Wait);
        Assert.Equal(1, Stats(forwarder).ListenerFailures);
        Assert.False(File.Exists(first)); // the failed forward's socket file went with it
        using var client = await ConnectUnix(second);
        var (dial, _) = ExpectDial(gateway);
        dial.HostSocket.Dispose();
    }

    [Fact]
    public async Task Unexpose_then_expose_of_the_same_port_at_once_succeeds_and_the_new_listener_accepts()
    {
        // A container restart: the guest agent unexposes and exposes the same port back to back. The second expose
        // must not meet the old listener (EADDRINUSE) nor lose its socket file to the old forward's cleanup.
        var (forwarder, gateway) = Start();
        for (var round = 0; round < 20; round++)
        {
            var path = Path("r.sock");
            if (round == 0) Expose(forwarder, path);
            forwarder.Tell(new ForwarderProtocol.Unexpose(path, "unix"), TestActor);
            forwarder.Tell(new ForwarderProtocol.Expose(path, "tcp://192.168.127.2:8080", "unix", null), TestActor);
            ExpectMsg<Done>(Wait);
            ExpectMsg<Done>(Wait);
        }
        await Task.Delay(200); // the old forwards' PostStops have run: the path must still be the new listener's
        using var client = await ConnectUnix(Path("r.sock"));
        ExpectDial(gateway).Dial.HostSocket.Dispose();
    }

    [Fact]
    public void A_unix_forward_asked_for_from_inside_the_guest_is_refused_and_no_file_is_touched()
    {
        var (forwarder, _) = Start();
        var victim = Path("victim.txt");
        File.WriteAllText(victim, "keep me");
        forwarder.Tell(new ForwarderProtocol.Expose(victim, "tcp://192.168.127.2:8080", "unix", null, FromGuest: true), TestActor);
        var r = ExpectMsg<Refused>(Wait);
        Assert.Contains("host-side API", r.Error.Message, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(victim));
    }

    [Fact]
    public async Task A_stale_file_at_a_unix_forwards_path_is_replaced_and_unexpose_removes_the_socket()
    {
        var (forwarder, gateway) = Start();
        var path = Path("f.sock");
        File.WriteAllText(path, "stale");
        Expose(forwarder, path);
        using (var client = await ConnectUnix(path)) ExpectDial(gateway).Dial.HostSocket.Dispose();
        forwarder.Tell(new ForwarderProtocol.Unexpose(path, "unix"), TestActor);
        ExpectMsg<Done>(Wait);
        AwaitCondition(() => !File.Exists(path), Wait);
        forwarder.Tell(new ForwarderProtocol.Unexpose(path, "unix"), TestActor);
        Assert.Equal("proxy not found", ExpectMsg<Refused>(Wait).Error.Message);
    }

    [Fact]
    public void A_unix_forward_needs_a_tcp_uri_remote()
    {
        var (forwarder, _) = Start();
        forwarder.Tell(new ForwarderProtocol.Expose(Path("g.sock"), "192.168.127.2:8080", "unix", null), TestActor);
        var r = ExpectMsg<Refused>(Wait);
        Assert.Equal(Transport.Forwarding.ForwardErrorKind.Failed, r.Error.Kind);
        Assert.Contains("tcp://", r.Error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path("g.sock")));
    }

    private static HttpClient UnixClient(string path) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
            return new NetworkStream(s, ownsSocket: true);
        },
    }) { BaseAddress = new Uri("http://localhost/") };

    [Fact]
    public async Task The_host_api_serves_stats_as_camel_case_json_from_the_role_actor_and_503_when_it_does_not_answer()
    {
        var (forwarder, _) = Start();
        var stats = CreateTestProbe();
        var path = Path("api.sock");
        var settings = ForwardingSettings.Default with { StatsTimeout = TimeSpan.FromMilliseconds(500) };
        await using var server = await ApiServer.StartOnHostAsync($"unix://{path}", new ForwarderApi(forwarder, stats.Ref, guestSide: false, settings), settings);
        if (OperatingSystem.IsLinux()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var http = UnixClient(path);

        var request = http.GetAsync("/stats");
        stats.ExpectMsg<StatsProtocol.GetSnapshot>(Wait);
        var at = new DateTimeOffset(2026, 11, 28, 18, 0, 0, TimeSpan.Zero);
        stats.Reply(new StatsProtocol.StatsSnapshot(at));
        using var ok = await request;
        Assert.Equal(200, (int)ok.StatusCode);
        var body = await ok.Content.ReadAsStringAsync();
        Assert.StartsWith("{\"takenAt\":\"2026-11-28T18:00:00+00:00\",\"partial\":false,", body, StringComparison.Ordinal);
        Assert.EndsWith("}\n", body, StringComparison.Ordinal);

        using var late = await http.GetAsync("/stats"); // nobody answers
        Assert.Equal(503, (int)late.StatusCode);
        Assert.Equal("stats unavailable\n", await late.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; charset=utf-8", late.Content.Headers.ContentType!.ToString());

        using var all = await http.GetAsync("/services/forwarder/all");
        Assert.Equal("[]\n", await all.Content.ReadAsStringAsync());
        using var nf = await http.GetAsync("/nope");
        Assert.Equal(404, (int)nf.StatusCode);
        Assert.Equal("404 page not found\n", await nf.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_in_guest_api_takes_the_callers_address_for_an_empty_remote_host_and_has_no_stats_route()
    {
        var (forwarder, _) = Start();
        var settings = ForwardingSettings.Default;
        var listener = new StackConnectionListener(4);
        await using var server = await ApiServer.StartInGuestAsync(listener, new ForwarderApi(forwarder, null, guestSide: true, settings), settings);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = (_, _) =>
            {
                // What the TCP stack does for a guest connection to .1:80: one end of a socket pair to the server.
                var (ours, theirs) = Transport.Linux.SocketPair.CreateStream();
                Assert.True(listener.TryAdd(theirs, new System.Net.IPEndPoint(System.Net.IPAddress.Parse("192.168.127.7"), 40000)));
                return ValueTask.FromResult<Stream>(new NetworkStream(ours, ownsSocket: true));
            },
        }) { BaseAddress = new Uri("http://192.168.127.1/") };

        // The caller (192.168.127.7) is what an empty remote host means; a unix forward (a host file path) is refused here.
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            port = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        }
        using var expose = await http.PostAsync("/services/forwarder/expose",
            new StringContent($$"""{"local":"127.0.0.1:{{port}}","remote":":22","protocol":"tcp"}"""));
        Assert.Equal(200, (int)expose.StatusCode);
        Assert.Equal("", await expose.Content.ReadAsStringAsync());
        var path = Path("h.sock");
        using var unix = await http.PostAsync("/services/forwarder/expose",
            new StringContent($$"""{"local":"{{path}}","remote":"tcp://192.168.127.2:22","protocol":"unix"}"""));
        Assert.Equal(500, (int)unix.StatusCode);
        Assert.False(File.Exists(path));
        // An empty remote host without a caller (the host-side API) is refused; with the in-guest caller the e2e test covers it.
        forwarder.Tell(new ForwarderProtocol.Expose("127.0.0.1:1", ":8080", "tcp", null), TestActor);
        Assert.Contains("caller", ExpectMsg<Refused>(Wait).Error.Message, StringComparison.Ordinal);
        using var bad = await http.PostAsync("/services/forwarder/expose", new StringContent("""{"local":":1","remote":":8080","protocol":"udp"}"""[..20]));
        Assert.Equal(400, (int)bad.StatusCode);
        using var stats = await http.GetAsync("/stats");
        Assert.Equal(404, (int)stats.StatusCode);
        using var all = await http.GetAsync("/services/forwarder/all");
        Assert.Equal($$"""[{"local":"127.0.0.1:{{port}}","remote":"192.168.127.7:22","protocol":"tcp"}]""" + "\n", await all.Content.ReadAsStringAsync());
    }

    public new void Dispose()
    {
        base.Dispose();
        try { _dir.Delete(recursive: true); } catch (IOException) { }
    }
}
