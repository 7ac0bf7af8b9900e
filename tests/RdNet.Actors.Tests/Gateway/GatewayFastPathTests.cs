using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Gateway;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Tcp;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Gateway;

/// <summary>
/// The gateway's fast path (switch → flow): TCP segments of a connection in the NAT's flow table reach that flow's
/// actor straight from the link reader; other TCP reaches the NAT actor; everything else and every malformed segment
/// still goes through the gateway actor, which counts it.
/// </summary>
public sealed class GatewayFastPathTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("10.1.2.3");
    private readonly FramePool _pool = new(256, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly TcpFlowTable _flows = new();
    private readonly TestProbe _nat;
    private readonly TestProbe _udp;
    private readonly TestProbe _flow;
    private readonly LinkPeer _guest;

    public GatewayFastPathTests()
    {
        _nat = CreateTestProbe();
        _udp = CreateTestProbe();
        _flow = CreateTestProbe();
        var services = new Dictionary<GatewayService, Func<IFrameSink, Props>>
        {
            [GatewayService.Tcp] = _ => GatewayRig.Relay.Props(_nat.Ref),
            [GatewayService.Udp] = _ => GatewayRig.Relay.Props(_udp.Ref),
        };
        Core = GatewayRig.Core(_net, _pool, services.Keys);
        (_, _, _guest) = GatewayRig.Start(this, _pool, _net, Core, services, new GatewayFastPath(Core, _flows));
        _flows.Set(new FlowKey(Guest, 40000, Remote, 80), Sys.ActorOf(GatewayRig.Relay.Props(_flow.Ref)));
    }

    private GatewayCore Core { get; }

    protected override void Dispose(bool disposing)
    {
        _guest.Dispose();
        base.Dispose(disposing);
    }

    [Fact]
    public void Segments_of_a_known_flow_go_to_the_flow_and_others_to_the_nat()
    {
        var data = TcpFrame(GuestMac, GatewayMac, Guest, Remote, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, [1, 2, 3]);
        _guest.Send(data);
        Assert.Equal(data, _flow.ExpectMsg<byte[]>(Wait));

        var syn = TcpFrame(GuestMac, GatewayMac, Guest, Remote, 40001, 80, TcpFlags.Syn, []);
        _guest.Send(syn);
        Assert.Equal(syn, _nat.ExpectMsg<byte[]>(Wait));
        _flow.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Many_segments_of_a_flow_arrive_in_order()
    {
        var sent = Enumerable.Range(0, 200)
            .Select(i => TcpFrame(GuestMac, GatewayMac, Guest, Remote, 40000, 80, TcpFlags.Ack, [(byte)i], seq: (uint)(1000 + i)))
            .ToList();
        foreach (var f in sent) _guest.Send(f);
        foreach (var f in sent) Assert.Equal(f, _flow.ExpectMsg<byte[]>(Wait));
    }

    [Fact]
    public void A_segment_that_arrived_by_link_broadcast_is_counted_and_reaches_no_one()
    {
        // Before the shared classifier the fast path refused it but the gateway actor handed it to the NAT.
        _guest.Send(TcpFrame(GuestMac, MacAddress.Broadcast, Guest, Remote, 40001, 80, TcpFlags.Syn, []));
        AwaitCondition(() => Core.Drops[DropReason.TcpLinkBroadcast] == 1, Wait);
        _nat.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        _flow.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_segment_with_a_bad_checksum_is_counted_and_reaches_no_one()
    {
        var bad = TcpFrame(GuestMac, GatewayMac, Guest, Remote, 40000, 80, TcpFlags.Ack, [9, 9]);
        bad[^1] ^= 0xFF; // payload changed after the checksum
        _guest.Send(bad);
        AwaitCondition(() => Core.Drops.Snapshot().ContainsKey(DropReason.TcpBadChecksum), Wait);
        _flow.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        _nat.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Udp_still_goes_through_the_gateway_to_its_service()
    {
        var datagram = Udp(GuestMac, GatewayMac, Guest, Remote, 40000, 80, [7]);
        _guest.Send(datagram);
        Assert.Equal(datagram, _udp.ExpectMsg<byte[]>(Wait));
        _flow.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Answers each frame with the thread that took it.</summary>
    private sealed class ThreadRecorder : ReceiveActor
    {
        public ThreadRecorder(IActorRef probe) => Receive<FrameBuffer>(f =>
        {
            f.Release();
            probe.Tell(Environment.CurrentManagedThreadId);
        });
    }

    [Fact]
    public void An_idle_flow_on_the_inline_dispatcher_takes_its_segment_on_the_readers_thread()
    {
        var probe = CreateTestProbe();
        var flow = Sys.ActorOf(Props.Create(() => new ThreadRecorder(probe.Ref)).WithDispatcher(InlineDispatcher.Ensure(Sys)));
        _flows.Set(new FlowKey(Guest, 40002, Remote, 80), flow);
        var fastPath = new GatewayFastPath(Core, _flows);
        fastPath.SetTcpService(_nat.Ref);
        var bytes = TcpFrame(GuestMac, GatewayMac, Guest, Remote, 40002, 80, TcpFlags.Ack | TcpFlags.Psh, [4, 5]);
        // The flow's start-up run (on the pool) may still be finishing when the first segment comes, which then only
        // queues; once a segment has run in line the flow is idle and each later one must run in line too.
        bool inLine = false;
        for (int attempt = 0; attempt < 100 && !inLine; attempt++)
        {
            int reader = 0;
            bool tookIt = false, doneBeforeReturn = false;
            var thread = new Thread(() =>
            {
                reader = Environment.CurrentManagedThreadId;
                var frame = _pool.TryRent(bytes.Length)!;
                bytes.CopyTo(frame.Array, 0);
                frame.SetLength(bytes.Length);
                tookIt = fastPath.TryTake(frame);
                doneBeforeReturn = probe.HasMessages;
            });
            thread.Start();
            Assert.True(thread.Join(Wait));
            Assert.True(tookIt);
            inLine = probe.ExpectMsg<int>(Wait) == reader;
            Assert.True(!inLine || doneBeforeReturn, "the flow ran on the reader's thread but after the call returned");
            if (!inLine) Thread.Sleep(10);
        }
        Assert.True(inLine, "an idle flow never took its segment on the reader's thread");

        // Idle now: the next segment runs in line at once.
        int next = 0;
        var again = new Thread(() =>
        {
            next = Environment.CurrentManagedThreadId;
            var frame = _pool.TryRent(bytes.Length)!;
            bytes.CopyTo(frame.Array, 0);
            frame.SetLength(bytes.Length);
            fastPath.TryTake(frame);
        });
        again.Start();
        Assert.True(again.Join(Wait));
        Assert.Equal(next, probe.ExpectMsg<int>(Wait));
    }
}
