using System.Buffers.Binary;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Tests.Support;
using RdNet.Actors.UdpNat;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;
using static RdNet.Actors.UdpNat.UdpProtocol;

namespace RdNet.Actors.Tests.UdpNat;

/// <summary>
/// The UDP NAT with real host sockets on loopback: the guest's datagrams to .254 reach an echo server on 127.0.0.1
/// and the replies come back as frames from .254; flows are reused, capped with LRU eviction, isolated from each
/// other's failures, refused by the egress policy with counted drops; a closed port becomes ICMP port unreachable.
/// </summary>
public sealed class UdpNatActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly Ipv4Address HostAlias = Ipv4Address.Parse("192.168.127.254");
    private readonly FramePool _pool = new(256, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly EgressPolicy _egress = new([Ipv4Cidr.Parse("127.0.0.0/8"), Ipv4Cidr.Parse("10.99.0.0/16")], [Ipv4Cidr.Parse("10.99.9.0/24")]);
    private readonly FrameCollector _guest = new();
    private readonly UdpEchoServer _echo = new();
    private readonly List<Socket> _flowSockets = [];

    protected override void Dispose(bool disposing)
    {
        _echo.Dispose();
        _guest.Dispose();
        base.Dispose(disposing);
    }

    private IActorRef Nat(int maxFlows = 64, TimeSpan? idle = null, Func<UdpFlowStart, Props>? flows = null) =>
        Sys.ActorOf(UdpNatActor.Props(_net, _egress, _guest, _pool, new DropCounters(), new UdpNatSettings(idle ?? TimeSpan.FromMinutes(5), maxFlows, TimeSpan.Zero),
            flows ?? (s =>
            {
                lock (_flowSockets) _flowSockets.Add(s.Socket);
                return UdpFlowActor.Props(s);
            })));

    private void Send(IActorRef nat, byte[] frame)
    {
        var b = _pool.TryRent()!;
        frame.CopyTo(b.Array, 0);
        b.SetLength(frame.Length);
        nat.Tell(b);
    }

    private static byte[] ToHost(ushort guestPort, ushort port, string payload, string destination = "192.168.127.254") =>
        GuestFrames.Udp(GuestMac, GatewayMac, Guest, Ipv4Address.Parse(destination), guestPort, port, System.Text.Encoding.ASCII.GetBytes(payload));

    private UdpNatStats Stats(IActorRef nat)
    {
        nat.Tell(GetStats.Instance, TestActor);
        return ExpectMsg<UdpNatStats>(Wait);
    }

    /// <summary>The payload of a UDP reply frame to the guest, after checking every header field the guest relies on.</summary>
    private static string ReplyPayload(byte[] frame, ushort fromPort, ushort toPort)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.Equal(GatewayMac, eth.Source);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out var r), r.ToString());
        Assert.Equal(HostAlias, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out r), r.ToString());
        Assert.Equal(fromPort, udp.SourcePort);
        Assert.Equal(toPort, udp.DestinationPort);
        return System.Text.Encoding.ASCII.GetString(udp.Payload);
    }

    private byte[] ExpectFrame() => _guest.Receive(Wait) ?? throw new Xunit.Sdk.XunitException("no frame to the guest");

    [Fact]
    public void A_datagram_opens_a_flow_whose_replies_come_back_from_the_address_the_guest_used_and_the_flow_is_reused()
    {
        var nat = Nat();
        Send(nat, ToHost(40000, _echo.Port, "one"));
        Assert.Equal("one", ReplyPayload(ExpectFrame(), _echo.Port, 40000));
        Send(nat, ToHost(40000, _echo.Port, "two"));
        Assert.Equal("two", ReplyPayload(ExpectFrame(), _echo.Port, 40000));
        var s = Stats(nat);
        Assert.Equal(1, s.Flows);
        Assert.Equal(1, s.Created);

        // Another guest port is another flow, with its own host socket.
        Send(nat, ToHost(40001, _echo.Port, "three"));
        Assert.Equal("three", ReplyPayload(ExpectFrame(), _echo.Port, 40001));
        s = Stats(nat);
        Assert.Equal(2, s.Flows);
        Assert.Equal(2, s.Created);
        Assert.Empty(s.Drops);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void At_the_cap_a_new_flow_closes_the_least_recently_used_one()
    {
        var nat = Nat(maxFlows: 2);
        Send(nat, ToHost(1001, _echo.Port, "a"));
        ExpectFrame();
        Send(nat, ToHost(1002, _echo.Port, "b"));
        ExpectFrame();
        Send(nat, ToHost(1001, _echo.Port, "a again")); // 1001 is now the most recently used
        ExpectFrame();
        Send(nat, ToHost(1003, _echo.Port, "c"));       // evicts 1002
        ExpectFrame();
        var s = Stats(nat);
        Assert.Equal(2, s.Flows);
        Assert.Equal(3, s.Created);
        Assert.Equal(1, s.Evicted);
        // The evicted flow's socket is closed: the second one opened.
        AwaitCondition(() => _flowSockets[1].SafeHandle.IsClosed, Wait);
        Assert.False(_flowSockets[0].SafeHandle.IsClosed);
        Assert.False(_flowSockets[2].SafeHandle.IsClosed);

        // 1001 still works on its old flow; 1002 comes back as a new flow (evicting 1003, now the oldest).
        Send(nat, ToHost(1001, _echo.Port, "still"));
        Assert.Equal("still", ReplyPayload(ExpectFrame(), _echo.Port, 1001));
        Assert.Equal(3, Stats(nat).Created);
        Send(nat, ToHost(1002, _echo.Port, "back"));
        Assert.Equal("back", ReplyPayload(ExpectFrame(), _echo.Port, 1002));
        s = Stats(nat);
        Assert.Equal(4, s.Created);
        Assert.Equal(2, s.Evicted);
        Assert.Equal(2, s.Flows);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    /// <summary>A flow actor that fails on its first datagram, standing for any bug in a flow.</summary>
    private sealed class FailingFlow : ReceiveActor
    {
        private readonly Socket _socket;

        public FailingFlow(UdpFlowStart start)
        {
            _socket = start.Socket;
            Receive<GuestDatagram>(d =>
            {
                d.Frame.Release();
                throw new InvalidOperationException("flow bug");
            });
        }

        protected override void PostStop() => _socket.Dispose();
    }

    [Fact]
    public void A_flow_that_throws_is_stopped_and_closed_without_touching_the_other_flows()
    {
        var failingPort = UdpEchoServer.ClosedPort();
        Socket? failingSocket = null;
        var nat = Nat(flows: s =>
        {
            if (s.Key.DestinationPort != failingPort) return UdpFlowActor.Props(s);
            failingSocket = s.Socket;
            return Props.Create(() => new FailingFlow(s));
        });
        Send(nat, ToHost(2000, _echo.Port, "before"));
        Assert.Equal("before", ReplyPayload(ExpectFrame(), _echo.Port, 2000));

        EventFilter.Exception<InvalidOperationException>().ExpectOne(() => Send(nat, ToHost(2001, failingPort, "boom")));
        AwaitAssert(() =>
        {
            var s = Stats(nat);
            Assert.Equal(1, s.Failed);
            Assert.Equal(1, s.Flows);
        }, Wait);
        Assert.True(failingSocket!.SafeHandle.IsClosed);

        // The other flow carries on on the same socket, and no flow was re-created for it.
        Send(nat, ToHost(2000, _echo.Port, "after"));
        Assert.Equal("after", ReplyPayload(ExpectFrame(), _echo.Port, 2000));
        Assert.Equal(2, Stats(nat).Created);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void Destinations_the_egress_policy_refuses_are_counted_drops_and_open_no_flow()
    {
        // With no --outbound-allow (the default), link-local is still blocked.
        var open = Sys.ActorOf(UdpNatActor.Props(_net, EgressPolicy.Default, _guest, _pool, new DropCounters(), new UdpNatSettings(TimeSpan.FromMinutes(1), 8, TimeSpan.Zero)));
        Send(open, ToHost(3000, 80, "metadata", "169.254.169.254"));
        AwaitAssert(() => Assert.Equal(1, Stats(open).Drops.GetValueOrDefault(DropReason.EgressLinkLocal)), Wait);
        Assert.Equal(0, Stats(open).Created);

        var nat = Nat();
        Send(nat, ToHost(3000, 80, "metadata", "169.254.169.254"));
        Send(nat, ToHost(3001, 5353, "mdns", "224.0.0.251"));
        Send(nat, ToHost(3002, 53, "outside", "10.1.2.3"));
        Send(nat, ToHost(3003, 53, "denied", "10.99.9.9"));
        Send(nat, ToHost(3004, 53, "other guest", "192.168.127.77"));
        Send(nat, ToHost(3005, 1900, "ssdp", "239.255.255.250"));
        AwaitAssert(() =>
        {
            var s = Stats(nat);
            Assert.Equal(3, s.Drops.GetValueOrDefault(DropReason.EgressMartian));
            Assert.Equal(2, s.Drops.GetValueOrDefault(DropReason.EgressNotAllowed)); // 169.254.169.254 and 10.1.2.3
            Assert.Equal(1, s.Drops.GetValueOrDefault(DropReason.EgressDenied));
            Assert.Equal(0, s.Flows);
            Assert.Equal(0, s.Created);
        }, Wait);
        Assert.Null(_guest.Receive(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0, _pool.Outstanding);
    }

    [Fact]
    public void A_closed_port_on_the_host_comes_back_to_the_guest_as_icmp_port_unreachable_quoting_its_datagram()
    {
        var nat = Nat();
        var closed = UdpEchoServer.ClosedPort();
        var request = ToHost(4000, closed, "anyone there?");
        Send(nat, request);
        var frame = ExpectFrame();
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(HostAlias, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.True(IcmpPacket.TryCreate(ip.Payload, out var icmp, out var r), r.ToString());
        Assert.Equal(IcmpType.DestinationUnreachable, icmp.Type);
        Assert.Equal(3, icmp.Code);
        // RFC 792: the guest's IP header and the first 8 bytes of its datagram (the UDP header), byte for byte.
        var quoted = request.AsSpan(EthernetFrame.HeaderLength, 20 + 8).ToArray();
        Assert.Equal(quoted, icmp.Data.ToArray());
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void A_reply_larger_than_the_mtu_allows_is_a_counted_drop_and_the_flow_goes_on()
    {
        var nat = Nat();
        Send(nat, ToHost(5000, _echo.Port, "B: please send 2000 bytes"));
        Send(nat, ToHost(5000, _echo.Port, "small"));
        Assert.Equal("small", ReplyPayload(ExpectFrame(), _echo.Port, 5000));
        Assert.Equal(1, Stats(nat).Drops.GetValueOrDefault(DropReason.UdpReplyTooLarge));
    }

    [Fact]
    public void A_fragment_is_a_counted_drop_without_reassembly()
    {
        var nat = Nat();
        var frame = ToHost(6000, _echo.Port, "first fragment");
        var ip = frame.AsSpan(EthernetFrame.HeaderLength, 20);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x2000); // more fragments
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip));
        Send(nat, frame);
        AwaitAssert(() => Assert.Equal(1, Stats(nat).Drops.GetValueOrDefault(DropReason.Ipv4Fragment)), Wait);
        Assert.Equal(0, Stats(nat).Created);
        Assert.Equal(0, _echo.Received);
    }

    [Fact]
    public void A_spoofed_source_outside_the_guest_subnet_is_a_counted_drop()
    {
        var nat = Nat();
        Send(nat, GuestFrames.Udp(GuestMac, GatewayMac, Ipv4Address.Parse("10.0.0.5"), HostAlias, 7000, _echo.Port, [1]));
        Send(nat, GuestFrames.Udp(GuestMac, GatewayMac, HostAlias, HostAlias, 7000, _echo.Port, [1]));
        AwaitAssert(() => Assert.Equal(2, Stats(nat).Drops.GetValueOrDefault(DropReason.Ipv4BadSource)), Wait);
        Assert.Equal(0, Stats(nat).Created);
    }
}

/// <summary>Idle expiry on Akka's virtual clock (TestScheduler): no real waiting for the 90 s default.</summary>
public sealed class UdpNatIdleTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FramePool _pool = new(64, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly FrameCollector _guest = new();
    private readonly UdpEchoServer _echo = new();

    public UdpNatIdleTests() : base("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"") { }

    protected override void Dispose(bool disposing)
    {
        _echo.Dispose();
        _guest.Dispose();
        base.Dispose(disposing);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void A_flow_idle_in_both_directions_for_the_timeout_is_closed_with_its_socket_and_a_new_datagram_opens_a_new_one()
    {
        var sockets = new List<Socket>();
        var nat = Sys.ActorOf(UdpNatActor.Props(_net, new EgressPolicy([Ipv4Cidr.Parse("127.0.0.0/8")], []), _guest, _pool, new DropCounters(),
            new UdpNatSettings(TimeSpan.FromSeconds(90), 16, TimeSpan.Zero), s =>
            {
                lock (sockets) sockets.Add(s.Socket);
                return UdpFlowActor.Props(s);
            }));
        void Send(string text)
        {
            var f = GuestFrames.Udp(GuestFrames.GuestMac, GuestFrames.GatewayMac, GuestFrames.Guest, Ipv4Address.Parse("192.168.127.254"), 8000, _echo.Port,
                System.Text.Encoding.ASCII.GetBytes(text));
            var b = _pool.TryRent()!;
            f.CopyTo(b.Array, 0);
            b.SetLength(f.Length);
            nat.Tell(b);
            Assert.NotNull(_guest.Receive(Wait)); // the echo: activity in both directions
        }
        UdpNatStats Stats()
        {
            nat.Tell(GetStats.Instance, TestActor);
            return ExpectMsg<UdpNatStats>(Wait);
        }

        Send("hello");
        Clock.Advance(TimeSpan.FromSeconds(60));
        Send("still here"); // activity at t=60 s moves the deadline to t=150 s
        Clock.Advance(TimeSpan.FromSeconds(60)); // t=120 s: the first deadline passes, the flow stays
        Assert.Equal(1, Stats().Flows);
        Assert.False(sockets[0].SafeHandle.IsClosed);

        Clock.Advance(TimeSpan.FromSeconds(31)); // t=151 s: 91 s idle
        AwaitAssert(() =>
        {
            var s = Stats();
            Assert.Equal(0, s.Flows);
            Assert.Equal(1, s.Closed);
        }, Wait);
        Assert.True(sockets[0].SafeHandle.IsClosed);

        Send("again");
        Assert.Equal(2, Stats().Created);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }
}
