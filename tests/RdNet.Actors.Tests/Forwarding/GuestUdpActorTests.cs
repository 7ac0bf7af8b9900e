using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Forwarding;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;
using static RdNet.Actors.Forwarding.ForwarderProtocol;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Forwarding;

/// <summary>The gateway's UDP forward service: each forward flow gets its own .1 port; only its guest peer's replies reach it.</summary>
public sealed class GuestUdpActorTests : TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FramePool _pool = new(64, 1600);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly FrameCollector _sent = new();
    private readonly DropCounters _drops = new();

    private FrameBuffer Frame(byte[] bytes)
    {
        var f = _pool.TryRent()!;
        bytes.CopyTo(f.Array, 0);
        f.SetLength(bytes.Length);
        return f;
    }

    private static (ushort SrcPort, ushort DstPort, byte[] Payload) ParseUdp(byte[] frame)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(GuestFrames.Gateway, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out _));
        return (udp.SourcePort, udp.DestinationPort, udp.Payload.ToArray());
    }

    [Fact]
    public void Each_flow_sends_from_its_own_gateway_port_and_gets_only_its_peers_replies()
    {
        var service = Sys.ActorOf(GuestUdpActor.Props(_net, _sent, _pool, _drops, 40000, 40001));
        var a = CreateTestProbe();
        var b = CreateTestProbe();
        service.Tell(new SendToGuest(Guest, 53, [1, 2]), a.Ref);
        service.Tell(new SendToGuest(Guest, 53, [3]), b.Ref);
        var fa = ParseUdp(_sent.Receive(Wait)!);
        var fb = ParseUdp(_sent.Receive(Wait)!);
        Assert.Equal((ushort)53, fa.DstPort);
        Assert.Equal([1, 2], fa.Payload);
        Assert.NotEqual(fa.SrcPort, fb.SrcPort);

        service.Tell(Frame(Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 53, fb.SrcPort, [9])));
        Assert.Equal([9], b.ExpectMsg<GuestDatagram>(Wait).Payload);
        // From another port of the guest, or to a port no flow owns: dropped, counted.
        service.Tell(Frame(Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 54, fa.SrcPort, [7])));
        service.Tell(Frame(Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 53, 39999, [7])));
        a.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        AwaitCondition(() => _drops[DropReason.ForwardUdpNoFlow] == 2, Wait);

        // Both ports are taken: a third flow has none until one of them stops.
        var c = CreateTestProbe();
        service.Tell(new SendToGuest(Guest, 53, [5]), c.Ref);
        AwaitCondition(() => _drops[DropReason.ForwardUdpSendFailed] == 1, Wait);
        Sys.Stop(a.Ref);
        AwaitAssert(() =>
        {
            service.Tell(new SendToGuest(Guest, 53, [6]), c.Ref);
            Assert.Equal(fa.SrcPort, ParseUdp(_sent.Receive(TimeSpan.FromMilliseconds(300))!).SrcPort);
        }, Wait);
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    public new void Dispose()
    {
        base.Dispose();
        _sent.Dispose();
    }

    [Fact]
    public void A_guest_that_has_not_replied_yet_gets_the_mac_the_gateway_learned_for_it_not_the_configured_one()
    {
        var learned = new MacAddress(0x0200_0000_0042);
        var other = Ipv4Address.Parse("192.168.127.5");
        var table = new NeighborTable(_net, 16, _drops);
        Assert.True(table.Learn(other, learned));
        var service = Sys.ActorOf(GuestUdpActor.Props(_net, _sent, _pool, _drops, 40000, 40001, table));
        service.Tell(new SendToGuest(other, 53, [1]), CreateTestProbe().Ref);
        Assert.True(EthernetFrame.TryCreate(_sent.Receive(Wait)!, out var eth, out _));
        Assert.Equal(learned, eth.Destination);

        // An address the gateway knows nothing of: the configured guest MAC, as before.
        service.Tell(new SendToGuest(Guest, 53, [2]), CreateTestProbe().Ref);
        Assert.True(EthernetFrame.TryCreate(_sent.Receive(Wait)!, out eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
    }
}
