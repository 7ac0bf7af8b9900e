using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Handshake;
using RdNet.Transport.Buffers;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using static RdNet.Actors.Handshake.HandshakeProtocol;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Tests.Handshake;

public sealed class HostHandshakeActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnet-hs-").FullName;
    private readonly FramePool _pool = new(64, 4000);
    private readonly List<IDisposable> _cleanup = [];

    private LinkEndpoint HandshakeEndpoint => LinkEndpoint.Parse($"unix://{_dir}/hs.sock");
    private LinkEndpoint DataEndpoint => LinkEndpoint.Parse($"unix://{_dir}/data.sock");

    internal static HandshakeTimings Fast(int maxAttempts = 3, double discoverySeconds = 30) => new(
        ConnectTimeout: TimeSpan.FromSeconds(1),
        SignatureTimeout: TimeSpan.FromMilliseconds(500),
        ProbeInterval: TimeSpan.FromMilliseconds(100),
        DiscoveryTimeout: TimeSpan.FromSeconds(discoverySeconds),
        DataAcceptTimeout: TimeSpan.FromMilliseconds(700),
        MaxAttempts: maxAttempts,
        MinBackoff: TimeSpan.FromMilliseconds(50),
        MaxBackoff: TimeSpan.FromMilliseconds(200));

    private FakeGuest Guest()
    {
        var g = new FakeGuest(HandshakeEndpoint, DataEndpoint);
        _cleanup.Add(g);
        return g;
    }

    private (IActorRef Actor, Akka.TestKit.TestProbe Router) Host(HandshakeTimings timings)
    {
        var router = CreateTestProbe();
        var actor = ChildActorOf(HostHandshakeActor.Props(new HostHandshakeConfig(HandshakeEndpoint, DataEndpoint, timings, new LinkOptions()), router, _pool));
        return (actor, router);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        foreach (var d in _cleanup) d.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(SignatureKind.Current)]
    [InlineData(SignatureKind.Original)]
    public void Either_phrase_is_accepted_and_the_data_link_is_attached_to_the_router(SignatureKind kind)
    {
        var guest = Guest();
        guest.Phrase = HandshakeSignature.Phrase(kind).ToArray();
        var (_, router) = Host(Fast());
        var attach = router.ExpectMsg<AttachLink>(Wait);
        Assert.StartsWith(HostHandshakeActor.LinkPrefix, attach.Name, StringComparison.Ordinal);
        var up = ExpectMsg<VmLinkUp>(Wait);
        Assert.Equal(kind, up.PeerSignature);
        Assert.Equal(1, guest.Readies);
        Assert.Single(guest.DataLinks);
        // The link the router got is the guest's data connection: a frame written by the guest arrives through it.
        var sink = new CollectingSink();
        using var cts = new CancellationTokenSource();
        _ = attach.Link.RunAsync(sink, cts.Token);
        guest.DataLinks[0].Send([3, 0, 1, 2, 3]);
        Assert.True(sink.Received.Wait(Wait));
        cts.Cancel();
        attach.Link.Dispose();
    }

    [Fact]
    public void A_wrong_phrase_is_never_taken_for_the_guest_and_probing_gives_up_at_the_discovery_timeout()
    {
        var guest = Guest();
        guest.Phrase = "github.com/rancher-sandbox/something-else-entirely"u8.ToArray();
        var (_, router) = Host(Fast(discoverySeconds: 1.5));
        var gaveUp = ExpectMsg<HandshakeGaveUp>(Wait);
        Assert.Contains("wrong phrase", gaveUp.Reason, StringComparison.Ordinal);
        Assert.Contains("no handshake answer within 1.5 s", gaveUp.Reason, StringComparison.Ordinal);
        router.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, guest.Readies);
        Assert.True(guest.Connections >= 3, $"probed only {guest.Connections} times");
    }

    [Fact]
    public void A_silent_guest_times_the_probe_out_and_is_probed_again()
    {
        var guest = Guest();
        guest.Phrase = null;
        var (_, router) = Host(Fast(discoverySeconds: 2));
        var gaveUp = ExpectMsg<HandshakeGaveUp>(Wait);
        Assert.Contains("no phrase within", gaveUp.Reason, StringComparison.Ordinal);
        Assert.True(guest.Connections >= 2, $"probed only {guest.Connections} times");
        router.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_guest_that_appears_later_is_found_by_probing_again()
    {
        var (_, router) = Host(Fast());
        ExpectNoMsg(TimeSpan.FromMilliseconds(600));
        var guest = Guest();
        router.ExpectMsg<AttachLink>(Wait).Link.Dispose();
        Assert.Equal(1, ExpectMsg<VmLinkUp>(Wait).Handshake);
        Assert.Equal(1, guest.Readies);
    }

    [Fact]
    public void A_data_connection_later_than_the_accept_timeout_fails_the_attempt_and_the_next_one_succeeds()
    {
        var guest = Guest();
        guest.DialDelay = n => n == 1 ? TimeSpan.FromSeconds(1.5) : TimeSpan.Zero;
        var (_, router) = Host(Fast());
        router.ExpectMsg<AttachLink>(Wait).Link.Dispose();
        ExpectMsg<VmLinkUp>(Wait);
        Assert.Equal(2, guest.Readies);
    }

    [Fact]
    public void A_dropped_data_link_makes_the_host_do_the_whole_handshake_again()
    {
        var guest = Guest();
        var (actor, router) = Host(Fast());
        var first = router.ExpectMsg<AttachLink>(Wait);
        ExpectMsg<VmLinkUp>(Wait);
        // The router's parent forwards PortAttached; the port actor stopping is the link dropping.
        var port = CreateTestProbe();
        actor.Tell(new PortAttached(7, first.Name, port));
        first.Link.Dispose();
        Sys.Stop(port);
        Assert.Equal(first.Name, ExpectMsg<VmLinkDown>(Wait).LinkName);
        var second = router.ExpectMsg<AttachLink>(Wait);
        Assert.NotEqual(first.Name, second.Name);
        Assert.Equal(2, ExpectMsg<VmLinkUp>(Wait).Handshake);
        Assert.Equal(2, guest.Readies);
        second.Link.Dispose();
    }

    [Fact]
    public void A_link_the_switch_never_attaches_counts_as_dropped_and_the_handshake_is_redone()
    {
        var guest = Guest();
        var (_, router) = Host(Fast());
        var first = router.ExpectMsg<AttachLink>(Wait); // no PortAttached follows: the router refused it (full)
        first.Link.Dispose();
        ExpectMsg<VmLinkUp>(Wait);
        Assert.Equal(first.Name, ExpectMsg<VmLinkDown>(Wait).LinkName);
        router.ExpectMsg<AttachLink>(Wait).Link.Dispose();
        Assert.Equal(2, ExpectMsg<VmLinkUp>(Wait).Handshake);
    }

    [Fact]
    public void Retries_exhausted_end_in_one_clear_failure()
    {
        var guest = Guest();
        guest.DialDelay = _ => null; // answers probes and READY but never connects for data
        var (_, router) = Host(Fast(maxAttempts: 3));
        var gaveUp = ExpectMsg<HandshakeGaveUp>(Wait);
        Assert.Equal("handshake failed 3 times; last: no data connection within 0.7 s of READY", gaveUp.Reason);
        Assert.Equal(3, guest.Readies);
        router.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.False(File.Exists(DataEndpoint.Path), "the data listener was left open");
    }

    private sealed class CollectingSink : IFrameSink
    {
        public ManualResetEventSlim Received { get; } = new();

        public void Deliver(FrameBuffer frame)
        {
            frame.Release();
            Received.Set();
        }
    }
}

/// <summary>Discovery (spec §2.2) as the Windows host runs it, with unix endpoints standing for the VMs' Hyper-V sockets.</summary>
public sealed class HostDiscoveryTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void Of_several_candidate_vms_the_one_that_answers_with_a_phrase_gets_the_handshake()
    {
        var dir = Directory.CreateTempSubdirectory("rdnet-hd-").FullName;
        try
        {
            VmCandidate Vm(string name) => new(name, LinkEndpoint.Parse($"unix://{dir}/{name}-hs.sock"), LinkEndpoint.Parse($"unix://{dir}/{name}-data.sock"));
            var absent = Vm("absent");
            var wrong = Vm("wrong");
            var wsl = Vm("wsl");
            using var other = new FakeGuest(wrong.Handshake, wrong.DataListen) { Phrase = "some other service speaking first"u8.ToArray() };
            using var guest = new FakeGuest(wsl.Handshake, wsl.DataListen);
            var rounds = 0;
            var router = CreateTestProbe();
            ChildActorOf(HostHandshakeActor.Props(
                new HostHandshakeConfig(absent.Handshake, absent.DataListen, HostHandshakeActorTests.Fast(), new LinkOptions(), () => { rounds++; return [absent, wrong, wsl]; }),
                router, new FramePool(16, 4000)));
            var attach = router.ExpectMsg<AttachLink>(Wait);
            Assert.Contains("wsl-data.sock", attach.Name, StringComparison.Ordinal);
            ExpectMsg<VmLinkUp>(Wait);
            Assert.Equal(1, guest.Readies);
            Assert.Equal(0, other.Readies);
            Assert.True(rounds >= 1);
            attach.Link.Dispose();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void No_running_vm_is_retried_and_ends_in_the_original_message()
    {
        var router = CreateTestProbe();
        ChildActorOf(HostHandshakeActor.Props(
            new HostHandshakeConfig(LinkEndpoint.Parse("unix:///nonexistent/hs.sock"), LinkEndpoint.Parse("unix:///nonexistent/data.sock"),
                HostHandshakeActorTests.Fast(discoverySeconds: 1), new LinkOptions(), () => HyperVDiscovery.Candidates([], 6669, 6656)),
            router, new FramePool(16, 4000)));
        var gaveUp = ExpectMsg<HandshakeGaveUp>(Wait);
        Assert.Contains("no running WSL VM found", gaveUp.Reason, StringComparison.Ordinal);
    }
}
