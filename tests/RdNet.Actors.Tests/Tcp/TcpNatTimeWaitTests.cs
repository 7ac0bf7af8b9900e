using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Tcp;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Tests.Tcp;

/// <summary>
/// A new connection from a guest port whose previous connection the NAT still holds in TIME-WAIT (the host server
/// closed first, so the NAT's side sent the first FIN). gvproxy drops such a SYN, which is what collapsed its
/// connect/close rate; here it is decided as Linux does (RFC 6191): a provably new SYN (newer timestamp, or a higher
/// sequence number without timestamps) opens the new flow at once; any other gets the TIME-WAIT ACK, the guest's stack
/// answers that with RST, which ends the TIME-WAIT, and the guest's SYN retransmission then gets through.
/// </summary>
public sealed class TcpNatTimeWaitTests : TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private const uint FirstIss = 1_000_000;
    private const uint FirstTsOffset = 2_000_000_000;
    private readonly FramePool _pool = new(4096, 1600);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly DropCounters _drops = new();
    private readonly GuestTcpStack _guest;
    private readonly TcpListener _server = new(IPAddress.Loopback, 0);
    private IActorRef _nat = ActorRefs.Nobody;

    public TcpNatTimeWaitTests()
    {
        _guest = new GuestTcpStack(_pool, _net);
        _server.Start();
    }

    private ushort ServerPort => (ushort)((IPEndPoint)_server.LocalEndpoint).Port;

    private TcpNatProtocol.TcpNatStats Stats()
    {
        _nat.Tell(TcpNatProtocol.GetStats.Instance, TestActor);
        return ExpectMsg<TcpNatProtocol.TcpNatStats>(Wait);
    }

    private static byte[] Drain(TcpConnection c)
    {
        var buf = new byte[c.ReceivedCount];
        c.Read(buf);
        return buf;
    }

    private static async Task<byte[]> ReceiveExactly(Socket s, int n)
    {
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None);
            if (r == 0) break;
            got += r;
        }
        return buf[..got];
    }

    public static TheoryData<string, bool, int, long, bool> Cases => new()
    {
        // name, the new SYN has timestamps, its ISS minus the old one's, its timestamp clock minus the old one's, reused at once
        { "newer timestamp", true, 100_000, 50_000_000, true },
        { "newer timestamp, lower sequence number", true, -100_000, 50_000_000, true },
        { "older timestamp", true, 100_000, -50_000_000, false },
        { "no timestamps, higher sequence number", false, 100_000, 0, true },
        { "no timestamps, lower sequence number", false, -100_000, 0, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_syn_reusing_a_time_wait_flow_opens_a_new_flow_as_linux_decides(
        string name, bool timestamps, int issDelta, long tsDelta, bool reusedAtOnce)
    {
        // TIME-WAIT far longer than the test: only reuse (or its RST) can free the 4-tuple.
        _nat = Sys.ActorOf(TcpNatActor.Props(_guest, _pool, _drops, _net, new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []),
            TcpNatSettings.Default with { TimeWait = TimeSpan.FromSeconds(60), IdleCheckInterval = TimeSpan.FromSeconds(1) }));
        _guest.Nat = _nat;

        // The first connection: request, reply, and the host server closes first.
        var (first, port) = _guest.Connect(_net.HostAlias, ServerPort, new TcpConfig { TimestampOffset = FirstTsOffset }, iss: FirstIss);
        using (var host = await _server.AcceptSocketAsync().WaitAsync(Wait))
        {
            Assert.True(_guest.RunUntil(() => first.IsEstablished, Wait), $"first: {first.State}");
            first.Write("ping"u8);
            var readPing = ReceiveExactly(host, 4);
            Assert.True(_guest.RunUntil(() => readPing.IsCompleted, Wait));
            Assert.Equal("ping"u8.ToArray(), await readPing);
            await host.SendAsync("pong"u8.ToArray(), SocketFlags.None);
            host.Shutdown(SocketShutdown.Both);
        }
        var reply = new MemoryStream();
        Assert.True(_guest.RunUntil(() => first.PeerFinished, Wait, () => reply.Write(Drain(first))), $"first: {first.State}");
        Assert.Equal("pong"u8.ToArray(), reply.ToArray());
        first.ShutdownSend();
        Assert.True(_guest.RunUntil(() => first.IsClosed, Wait), $"first: {first.State}");
        Assert.Equal(TcpError.None, first.Error); // LAST-ACK → CLOSED: the NAT's side is the one in TIME-WAIT
        _guest.RunUntil(() => false, TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Stats().Flows);

        // The new incarnation from the same guest port.
        var cfg = new TcpConfig
        {
            Timestamps = timestamps,
            TimestampOffset = unchecked((uint)(FirstTsOffset + tsDelta)),
        };
        var (second, samePort) = _guest.Connect(_net.HostAlias, ServerPort, cfg, port, unchecked((uint)(FirstIss + issDelta)));
        Assert.Equal(port, samePort);
        var accept = _server.AcceptSocketAsync();
        Assert.True(_guest.RunUntil(() => second.IsEstablished, Wait), $"second: {second.State}");
        using var host2 = await accept.WaitAsync(Wait);
        Assert.Equal(timestamps, second.Negotiated(out _, out _, out var ts) && ts);

        if (reusedAtOnce)
        {
            Assert.Equal(0, _drops[DropReason.TcpTimeWaitSynRejected]);
            Assert.Equal(0, _guest.Drops[DropReason.TcpBadHandshakeAck]);
        }
        else
        {
            // The TIME-WAIT ACK, the guest's RST for it, then the SYN retransmission opened the new flow.
            Assert.Equal(1, _drops[DropReason.TcpTimeWaitSynRejected]);
            Assert.Equal(1, _guest.Drops[DropReason.TcpBadHandshakeAck]);
        }

        // The new connection carries data both ways and closes; nothing of the old one is left.
        second.Write("again"u8);
        var readAgain = ReceiveExactly(host2, 5);
        Assert.True(_guest.RunUntil(() => readAgain.IsCompleted, Wait));
        Assert.Equal("again"u8.ToArray(), await readAgain);
        await host2.SendAsync("back"u8.ToArray(), SocketFlags.None);
        var back = new MemoryStream();
        Assert.True(_guest.RunUntil(() => back.Length == 4, Wait, () => back.Write(Drain(second))));
        Assert.Equal("back"u8.ToArray(), back.ToArray());
        var stats = Stats();
        Assert.Equal(2, stats.FlowsOpened);
        Assert.Equal(1, stats.Flows);
        Assert.NotNull(name);
    }

    protected override void Dispose(bool disposing)
    {
        _server.Stop();
        base.Dispose(disposing);
    }
}
