using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Forwarding;
using RdNet.Actors.Forwarding.Api;
using RdNet.Actors.Gateway;
using RdNet.Actors.Tcp;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;

namespace RdNet.Actors.Tests.Forwarding;

/// <summary>
/// Who closes what in port forwarding when answers come late: a dial the stack answers after the forward gave up on
/// it, an accept that completes as its forward stops, an API server that starts after its actor stopped. The races are
/// made certain by running the actor under test on a one-thread dispatcher that a <see cref="Blocker"/> holds busy
/// while the late message is queued and the stop is sent (system messages run first, so the late one is a dead letter).
/// </summary>
public sealed class ForwardingOwnershipTests() : TestKit(ConfigurationFactory.ParseString("""
    one-thread {
      type = ForkJoinDispatcher
      throughput = 100
      dedicated-thread-pool { thread-count = 1 }
    }
    """)), IDisposable
{
    private const string OneThread = "one-thread";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("rdnet-own-");

    /// <summary>Holds its dispatcher's only thread until released.</summary>
    private sealed class Blocker : ReceiveActor
    {
        public Blocker(ManualResetEventSlim release, ManualResetEventSlim holding) =>
            ReceiveAny(_ =>
            {
                holding.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            });
    }

    /// <summary>Stands in for the TCP stack's flow: owns the host socket and closes it when stopped.</summary>
    private sealed class SocketOwner(Socket socket) : ReceiveActor
    {
        protected override void PostStop() => socket.Dispose();
    }

    private string Path(string name) => System.IO.Path.Combine(_dir.FullName, name);

    private ForwardSpec UnixSpec(string path)
    {
        Assert.True(ForwardSpec.TryParse(path, "tcp://192.168.127.2:8080", "unix", null, _net, out var spec, out var error), error?.Message);
        return spec!;
    }

    private static async Task<bool> ClosedByPeer(Socket s, TimeSpan within)
    {
        try
        {
            using var cts = new CancellationTokenSource(within);
            return await s.ReceiveAsync(new byte[16], SocketFlags.None, cts.Token) == 0;
        }
        catch (SocketException)
        {
            return true; // reset
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A connected pair: the test keeps the client end, the actor under test gets the server end.</summary>
    private static (Socket Client, Socket Server) Pair() => Transport.Linux.SocketPair.CreateStream();

    private static (TcpNatProtocol.DialGuest Dial, IActorRef Connection) ExpectDial(Akka.TestKit.TestProbe gateway)
    {
        var m = gateway.ExpectMsg<GatewayProtocol.ToService>(Wait);
        return ((TcpNatProtocol.DialGuest)m.Message, gateway.LastSender);
    }

    [Fact]
    public async Task A_dial_answer_timeout_shuts_the_client_down_but_leaves_the_socket_to_the_stack_which_may_still_start_the_flow()
    {
        var gateway = CreateTestProbe();
        var settings = ForwardingSettings.Default with { DialAnswerTimeout = TimeSpan.FromMilliseconds(300) };
        var (client, server) = Pair();
        using var _ = client;
        var connection = Sys.ActorOf(ForwardedConnectionActor.Props(server, UnixSpec(Path("a.sock")), gateway.Ref, settings));
        Watch(connection);
        var (dial, _) = ExpectDial(gateway);
        Assert.Same(server, dial.HostSocket);

        Assert.True(await ClosedByPeer(client, Wait)); // the client sees the timeout's close...
        Assert.False(dial.HostSocket.SafeHandle.IsClosed); // ...but the socket the stack holds is still its own

        // The stack answers late: the flow it started is stopped, and it (the one owner) closes the socket.
        var flow = Sys.ActorOf(Props.Create(() => new SocketOwner(dial.HostSocket)));
        Watch(flow);
        gateway.Reply(new TcpNatProtocol.GuestDialStarted(flow, default));
        var gone = new[] { ExpectMsg<Terminated>(Wait).ActorRef, ExpectMsg<Terminated>(Wait).ActorRef };
        Assert.Equal(new HashSet<IActorRef> { flow, connection }, gone.ToHashSet());
        Assert.True(dial.HostSocket.SafeHandle.IsClosed);
    }

    [Fact]
    public async Task A_dial_handed_back_by_the_gateway_after_the_timeout_is_closed_by_the_connection()
    {
        var gateway = CreateTestProbe();
        var settings = ForwardingSettings.Default with { DialAnswerTimeout = TimeSpan.FromMilliseconds(500) };
        var (client, server) = Pair();
        using var _ = client;
        var connection = Sys.ActorOf(ForwardedConnectionActor.Props(server, UnixSpec(Path("b.sock")), gateway.Ref, settings));
        Watch(connection);
        var m = gateway.ExpectMsg<GatewayProtocol.ToService>(Wait);
        Assert.True(await ClosedByPeer(client, Wait)); // past the first timeout, before the second
        Assert.False(server.SafeHandle.IsClosed);
        gateway.Reply(new GatewayProtocol.ServiceUnavailable(m.Service, m.Message));
        ExpectTerminated(connection, Wait);
        AwaitCondition(() => server.SafeHandle.IsClosed, Wait);
    }

    [Fact]
    public void A_dial_never_answered_is_left_to_the_stack_after_the_second_timeout()
    {
        var gateway = CreateTestProbe();
        var settings = ForwardingSettings.Default with { DialAnswerTimeout = TimeSpan.FromMilliseconds(150) };
        var (client, server) = Pair();
        using var _ = client;
        using var __ = server;
        var connection = Sys.ActorOf(ForwardedConnectionActor.Props(server, UnixSpec(Path("c.sock")), gateway.Ref, settings));
        Watch(connection);
        gateway.ExpectMsg<GatewayProtocol.ToService>(Wait);
        ExpectTerminated(connection, Wait);
        Assert.False(server.SafeHandle.IsClosed);
    }

    [Fact]
    public async Task An_accept_that_completes_as_its_forward_stops_closes_the_accepted_connection()
    {
        var gateway = CreateTestProbe();
        var path = Path("d.sock");
        var spec = UnixSpec(path);
        var listener = ForwarderActor.Bind(spec, 16);
        var forward = Sys.ActorOf(TcpForwardActor.Props(spec, listener, gateway.Ref, ForwardingSettings.Default, new DropCounters())
            .WithDispatcher(OneThread));
        Watch(forward);
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        var blocker = Sys.ActorOf(Props.Create(() => new Blocker(release, holding)).WithDispatcher(OneThread));
        // The forward has started (its first accept is pending) once a first connection reaches the stack.
        using (var first = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await first.ConnectAsync(new UnixDomainSocketEndPoint(path));
            ExpectDial(gateway).Dial.HostSocket.Dispose();
        }

        blocker.Tell("hold");
        Assert.True(holding.Wait(Wait));
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await Task.Delay(300); // the accept completes and its result is queued behind the blocker
        StopNow(forward);
        release.Set();
        ExpectTerminated(forward, Wait);

        gateway.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // never handed on...
        Assert.True(await ClosedByPeer(client, TimeSpan.FromSeconds(3))); // ...and not left open either
    }

    [Fact]
    public async Task A_host_api_actor_stopped_before_its_server_started_stops_the_server()
    {
        var path = Path("api.sock");
        var forwarder = CreateTestProbe();
        var stats = CreateTestProbe();
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        var blocker = Sys.ActorOf(Props.Create(() => new Blocker(release, holding)).WithDispatcher(OneThread));
        var api = Sys.ActorOf(HostApiActor.Props($"unix://{path}", forwarder.Ref, stats.Ref, ForwardingSettings.Default).WithDispatcher(OneThread));
        Watch(api);
        AwaitCondition(() => File.Exists(path), Wait); // PreStart ran: the socket is bound and Kestrel is starting
        blocker.Tell("hold");
        Assert.True(holding.Wait(Wait));
        AwaitCondition(() => ListeningUnixSockets().Contains(path), Wait); // Kestrel listens: Started is queued
        await Task.Delay(300);
        StopNow(api);
        release.Set();
        ExpectTerminated(api, Wait);

        AwaitCondition(() => !ListeningUnixSockets().Contains(path), TimeSpan.FromSeconds(5));
        Assert.False(File.Exists(path)); // removed by the server's disposal (the actor deletes nothing itself)
    }

    /// <summary>Queues the stop as a system message now (Sys.Stop goes through the guardian, which may be late).</summary>
    private static void StopNow(IActorRef actor) => ((IInternalActorRef)actor).Stop();

    [Fact]
    public async Task Disposing_a_host_api_server_closes_its_listening_socket_not_only_the_file()
    {
        var path = Path("direct.sock");
        var server = await ApiServer.StartOnHostAsync($"unix://{path}", new ForwarderApi(CreateTestProbe().Ref, null, guestSide: false, ForwardingSettings.Default), ForwardingSettings.Default);
        Assert.Contains(path, ListeningUnixSockets());
        await server.DisposeAsync();
        Assert.DoesNotContain(path, ListeningUnixSockets());
        Assert.False(File.Exists(path));
    }

    /// <summary>Paths of the listening unix sockets of this network namespace (a closed listener leaves the list).</summary>
    private static HashSet<string> ListeningUnixSockets()
    {
        // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening).
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/net/unix").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 8 && f[3] == "00010000") paths.Add(f[7]);
        }
        return paths;
    }

    public new void Dispose()
    {
        base.Dispose();
        try { _dir.Delete(recursive: true); } catch (IOException) { }
    }
}
