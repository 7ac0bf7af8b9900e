using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Switch;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Tests.Switch;

public sealed class RouterActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private static readonly MacAddress A = new(0x0200_0000_000A), B = new(0x0200_0000_000B), C = new(0x0200_0000_000C);
    private readonly FramePool _pool = new(1024, 4000);
    private readonly List<LinkPeer> _peers = [];
    private long _now;

    private IActorRef Router(int capacity = 64, TimeSpan? ageing = null) =>
        ChildActorOf(RouterActor.Props(new RouterOptions(capacity, ageing ?? TimeSpan.FromSeconds(300), TimeSpan.Zero, 16), () => _now));

    private LinkPeer Attach(IActorRef router, string name)
    {
        var (ours, theirs) = InMemoryLink.CreatePair(_pool, name: name);
        router.Tell(new AttachLink(theirs, name));
        ExpectMsg<PortAttached>(a => a.Name == name, Wait);
        var peer = new LinkPeer(ours, _pool);
        _peers.Add(peer);
        return peer;
    }

    private static byte[] Frame(MacAddress dst, MacAddress src) => GuestFrames.Ethernet(dst, src, EtherType.Ipv4, new byte[46]);

    private RouterStats Stats(IActorRef router)
    {
        router.Tell(GetStats.Instance, TestActor);
        return ExpectMsg<RouterStats>(Wait);
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var p in _peers) p.Dispose();
        base.Dispose(disposing);
    }

    [Fact]
    public void Broadcast_reaches_every_port_but_the_one_it_came_from()
    {
        var router = Router();
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        var p3 = Attach(router, "p3");
        p1.Send(Frame(MacAddress.Broadcast, A));
        Assert.NotNull(p2.Receive(Wait));
        Assert.NotNull(p3.Receive(Wait));
        Assert.Null(p1.Receive(Quiet));
    }

    [Fact]
    public void A_learned_mac_gets_unicast_only_on_its_port()
    {
        var router = Router();
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        var p3 = Attach(router, "p3");
        p1.Send(Frame(MacAddress.Broadcast, A)); // learn A on p1
        p2.Receive(Wait);
        p3.Receive(Wait);
        p2.Send(Frame(A, B));
        var got = p1.Receive(Wait);
        Assert.NotNull(got);
        Assert.Equal(B, MacAddress.Read(got.AsSpan(6)));
        Assert.Null(p3.Receive(Quiet));
    }

    [Fact]
    public void Unknown_unicast_is_dropped_and_counted()
    {
        var router = Router();
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        p1.Send(Frame(C, A));
        Assert.Null(p2.Receive(Quiet));
        Assert.Equal(1, Stats(router).Drops[DropReason.UnknownUnicast]);
    }

    [Fact]
    public void Entries_age_out_on_the_ageing_tick_and_unicast_to_them_is_then_dropped()
    {
        var router = Router(ageing: TimeSpan.FromSeconds(10));
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        p1.Send(Frame(MacAddress.Broadcast, A));
        p2.Receive(Wait);
        Assert.Equal(1, Stats(router).CamEntries);
        _now += 10_000;
        router.Tell(AgeTick.Instance);
        Assert.Equal(0, Stats(router).CamEntries);
        p2.Send(Frame(A, B));
        Assert.Null(p1.Receive(Quiet));
    }

    [Fact]
    public void A_flood_of_source_macs_is_capped_and_counted_and_switching_goes_on()
    {
        var router = Router(capacity: 16);
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        for (ulong i = 0; i < 500; i++) p1.Send(Frame(MacAddress.Broadcast, new MacAddress(0x0200_0001_0000 + i)));
        for (int i = 0; i < 500; i++) Assert.NotNull(p2.Receive(Wait));
        var stats = Stats(router);
        Assert.Equal(16, stats.CamEntries);
        Assert.Equal(500 - 16, stats.Drops[DropReason.CamTableFull]);
    }

    [Fact]
    public void A_port_whose_link_ends_is_removed_with_its_cam_entries_and_the_rest_keep_switching()
    {
        var router = Router();
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        var p3 = Attach(router, "p3");
        p1.Send(Frame(MacAddress.Broadcast, A));
        p2.Receive(Wait);
        p3.Receive(Wait);
        ((InMemoryLink)p1.Link).Close();
        ExpectMsg<PortDetached>(d => d.Name == "p1", Wait);
        Assert.Equal(0, Stats(router).CamEntries);
        p2.Send(Frame(MacAddress.Broadcast, B));
        Assert.NotNull(p3.Receive(Wait));
    }

    [Fact]
    public async Task A_port_that_fails_is_stopped_by_the_supervisor_and_the_others_keep_switching()
    {
        var router = Router();
        var p2 = Attach(router, "p2");
        var p3 = Attach(router, "p3");
        // A real stream link whose peer sends a length prefix of 0xFFFF: the port's link fails and the port actor throws.
        var dir = Directory.CreateTempSubdirectory("rdnet-sup-").FullName;
        try
        {
            var ep = LinkEndpoint.Parse($"unix://{dir}/s.sock");
            using var listener = ep.Listen();
            var connect = ep.ConnectAsync(CancellationToken.None);
            var accepted = await listener.AcceptAsync();
            using var evil = await connect;
            var link = new StreamLink(accepted, "evil", _pool, new LinkOptions());
            await EventFilter.Warning(contains: "Stopping a failed switch port").ExpectOneAsync(async () =>
            {
                router.Tell(new AttachLink(link, "evil"));
                ExpectMsg<PortAttached>(a => a.Name == "evil", Wait);
                await evil.SendAsync(new byte[] { 0xFF, 0xFF, 0, 0 }, SocketFlags.None);
                ExpectMsg<PortDetached>(d => d.Name == "evil", Wait);
            });
            Assert.Equal(1, link.Stats.Drops[DropReason.FrameLengthTooLarge]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        p2.Send(Frame(MacAddress.Broadcast, B));
        Assert.NotNull(p3.Receive(Wait));
        Assert.Equal(2, Stats(router).Ports.Count);
    }

    [Fact]
    public void Every_pooled_buffer_comes_back_after_switching_floods_and_drops()
    {
        var router = Router();
        var p1 = Attach(router, "p1");
        var p2 = Attach(router, "p2");
        var p3 = Attach(router, "p3");
        for (int i = 0; i < 200; i++)
        {
            p1.Send(Frame(MacAddress.Broadcast, A));
            p1.Send(Frame(C, A)); // unknown: dropped
            p1.Send(new byte[5]); // runt: dropped
        }
        for (int i = 0; i < 200; i++)
        {
            Assert.NotNull(p2.Receive(Wait));
            Assert.NotNull(p3.Receive(Wait));
        }
        var stats = Stats(router);
        Assert.Equal(200, stats.Drops[DropReason.EthernetRunt]);
        Assert.Equal(200, stats.Drops[DropReason.UnknownUnicast]);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }
}
