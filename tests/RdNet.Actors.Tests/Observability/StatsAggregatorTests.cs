using System.Net;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Dns;
using RdNet.Actors.Gateway;
using RdNet.Actors.Icmp;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Observability;
using RdNet.Actors.Roles;
using RdNet.Actors.Switch;
using RdNet.Actors.Tcp;
using RdNet.Actors.Tests.Support;
using RdNet.Actors.UdpNat;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using static RdNet.Actors.Observability.StatsProtocol;

namespace RdNet.Actors.Tests.Observability;

public sealed class StatsAggregatorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly string[] Names = ["switch", "gateway", "tcp", "udp", "icmp", "dns"];

    private static Dictionary<DropReason, long> D(params (DropReason R, long N)[] xs) => xs.ToDictionary(x => x.R, x => x.N);

    private static SwitchProtocol.RouterStats Router() => new(
        D((DropReason.UnknownUnicast, 2)), 3,
        [
            new SwitchProtocol.PortInfo(1, "gateway 192.168.127.1", 0, 0, 0, 0, D()),
            new SwitchProtocol.PortInfo(2, "vm unix:///run/x.sock#1", 10, 12, 1000, 1500, D((DropReason.EgressQueueFull, 4))),
        ], 20, 3);

    [Fact]
    public void When_every_source_answers_the_snapshot_has_ports_drops_flows_and_dns_and_is_not_partial()
    {
        var sources = Names.Select(n => (Name: n, Probe: CreateTestProbe())).ToList();
        ActorOf(StatsAggregatorActor.Props(TestActor, sources.Select(s => new StatsAggregatorActor.Source(s.Name, s.Probe, s.Name + "?")).ToList(), TimeSpan.FromSeconds(10)));
        object[] answers =
        [
            Router(),
            new GatewayActor.GatewayStats(D((DropReason.EgressQueueFull, 1)), 5, 6, 7, []),
            new TcpNatProtocol.TcpNatStats(2, 0, 9, D((DropReason.EgressQueueFull, 1))),
            new UdpProtocol.UdpNatStats(1, 4, 0, 3, 0, D((DropReason.EgressQueueFull, 10))),
            new IcmpEchoActor.IcmpEchoStats(true, 8, 8, 0, D()),
            new DnsProtocol.DnsStats(D(), 30, 12, 1, 2, 0, 0, new DnsProtocol.DnsLatency(12, 12, 1.5, 4, 9.25)),
        ];
        foreach (var ((name, probe), answer) in sources.Zip(answers))
        {
            probe.ExpectMsg<string>(m => m == name + "?", Wait);
            probe.Reply(answer);
        }
        var s = ExpectMsg<StatsSnapshot>(Wait);
        Assert.False(s.Partial);
        Assert.Empty(s.Missing!);
        Assert.Equal([1, 2], s.Ports!.Select(p => p.Id));
        Assert.Equal(new PortCounters(2, "vm unix:///run/x.sock#1", 10, 12, 1000, 1500, 4), s.Ports![1]);
        // Switch 4 (link) + gateway/TCP/DNS shared counters 1 (read twice, counted once) + UDP 10.
        Assert.Equal(15, s.Drops!["EgressQueueFull"]);
        Assert.Equal(2, s.Drops!["UnknownUnicast"]);
        Assert.Equal(
            [new FlowCounters("tcp", 2, 9), new FlowCounters("udp", 1, 4), new FlowCounters("icmp", 0, 8)],
            s.Flows!);
        Assert.Equal(new DnsCounters(43, 30, 12, 1, 2, 0, 1.5, 4, 9.25, 12), s.Dns);
        Assert.Equal(0, s.Forwards);
    }

    [Fact]
    public void A_source_that_does_not_answer_in_time_leaves_a_partial_snapshot_naming_it()
    {
        var fast = CreateTestProbe();
        var silent = CreateTestProbe();
        var aggregator = ActorOf(StatsAggregatorActor.Props(TestActor,
            [new StatsAggregatorActor.Source("switch", fast, "go"), new StatsAggregatorActor.Source("dns", silent, "go")], TimeSpan.FromMilliseconds(300)));
        Watch(aggregator);
        fast.ExpectMsg<string>(Wait);
        fast.Reply(Router());
        var s = ExpectMsg<StatsSnapshot>(Wait);
        Assert.True(s.Partial);
        Assert.Equal(["dns"], s.Missing!);
        Assert.Equal(2, s.Ports!.Count);
        Assert.Null(s.Dns);
        ExpectTerminated(aggregator, Wait); // short-lived: one per request
    }

    [Fact]
    public void The_snapshot_round_trips_through_the_json_shape_of_get_stats()
    {
        var s = StatsAggregatorActor.Build(DateTimeOffset.UnixEpoch, new Dictionary<string, object> { ["switch"] = Router() }, []);
        var json = JsonSerializer.Serialize(s, Json);
        Assert.Contains("\"framesIn\": 10", json, StringComparison.Ordinal);
        var back = JsonSerializer.Deserialize<StatsSnapshot>(json, Json)!;
        Assert.Equal(s.Ports, back.Ports);
        Assert.Equal(s.Drops, back.Drops);
    }
}

/// <summary>The host-switch role actor answers GetSnapshot from its real children, with the shipped hocon.</summary>
public sealed class HostSwitchSnapshotTests() : TestKit(ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(RepoRoot(), "hocon", "rdnet.hocon"))))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RdNet.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("RdNet.sln not found");
    }

    [Fact]
    public async Task Host_switch_answers_a_snapshot_whose_port_counters_move_with_guest_traffic()
    {
        var settings = RdNetSettings.FromConfig(Sys.Settings.Config);
        var pool = new FramePool(settings.FramePoolSize, settings.Link.MaxFrameLength);
        var net = VirtualNetwork.Parse(VirtualNetwork.DefaultSubnet);
        var config = new HostSwitchConfig(net, [], settings, [], null, false,
            new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []), [new IPEndPoint(IPAddress.Loopback, 9)]);
        var hs = Sys.ActorOf(HostSwitchActor.Props(config, pool, new RoleExit()), "host-switch");

        // Everything started (the gateway's services come up once it is attached to the switch).
        StatsSnapshot s = null!;
        await AwaitAssertAsync(() =>
        {
            hs.Tell(GetSnapshot.Instance, TestActor);
            s = ExpectMsg<StatsSnapshot>(Wait);
            Assert.False(s.Partial, string.Join(", ", s.Missing ?? []));
        }, Wait);
        Assert.Equal(["tcp", "udp", "icmp", "forwarded"], s.Flows!.Select(f => f.Protocol));
        Assert.NotNull(s.Dns);
        Assert.Equal(0, s.Forwards);

        // A guest link: its ARP request to .1 is counted on its port.
        var router = await Sys.ActorSelection("/user/host-switch/switch").ResolveOne(Wait);
        var (ours, theirs) = InMemoryLink.CreatePair(pool, name: "guest");
        using var peer = new LinkPeer(ours, pool);
        router.Tell(new SwitchProtocol.AttachLink(theirs, "guest"));
        peer.Send(GuestFrames.ArpRequest(GuestFrames.GuestMac, GuestFrames.Guest, GuestFrames.Gateway));
        Assert.NotNull(peer.Receive(Wait));
        await AwaitAssertAsync(() =>
        {
            hs.Tell(GetSnapshot.Instance, TestActor);
            var after = ExpectMsg<StatsSnapshot>(Wait);
            var port = Assert.Single(after.Ports!, p => p.Name == "guest");
            Assert.Equal(1, port.FramesIn);
            Assert.Equal(1, port.FramesOut);
        }, Wait);
    }
}
