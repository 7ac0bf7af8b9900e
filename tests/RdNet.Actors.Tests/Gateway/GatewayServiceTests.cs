using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Gateway;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Gateway;

/// <summary>The gateway hands frames it does not answer itself to the installed service (DNS, UDP, ICMP), with the buffer.</summary>
public sealed class GatewayServiceTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private readonly FramePool _pool = new(256, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly TestProbe _dns;
    private readonly TestProbe _udp;
    private readonly IActorRef _gateway;
    private readonly LinkPeer _guest;

    public GatewayServiceTests()
    {
        _dns = CreateTestProbe();
        _udp = CreateTestProbe();
        var services = new Dictionary<GatewayService, Func<IFrameSink, Props>>
        {
            [GatewayService.Dns] = _ => GatewayRig.Relay.Props(_dns.Ref),
            [GatewayService.Udp] = _ => GatewayRig.Relay.Props(_udp.Ref),
        };
        (_, _gateway, _guest) = GatewayRig.Start(this, _pool, _net, GatewayRig.Core(_net, _pool, services.Keys), services);
    }

    protected override void Dispose(bool disposing)
    {
        _guest.Dispose();
        base.Dispose(disposing);
    }

    private GatewayActor.GatewayStats Stats()
    {
        _gateway.Tell(GatewayActor.GetStats.Instance, TestActor);
        return ExpectMsg<GatewayActor.GatewayStats>(Wait);
    }

    [Fact]
    public void Udp_to_the_gateways_port_53_goes_to_the_dns_service_and_udp_elsewhere_to_the_udp_service()
    {
        var query = Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 40000, 53, [1, 2, 3]);
        _guest.Send(query);
        Assert.Equal(query, _dns.ExpectMsg<byte[]>(Wait));

        var outbound = Udp(GuestMac, GatewayMac, Guest, Ipv4Address.Parse("10.9.8.7"), 40001, 9999, [4]);
        _guest.Send(outbound);
        Assert.Equal(outbound, _udp.ExpectMsg<byte[]>(Wait));
        _dns.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_service_that_is_not_installed_is_a_counted_drop_and_every_buffer_comes_back()
    {
        // TCP and ICMP-to-elsewhere have no service here: they keep the core's drop reasons.
        var tcp = new byte[20];
        TcpHeader.Emit(tcp, Guest, GuestFrames.Gateway, 40000, 80, 1, 0, TcpFlags.Syn, 65535, default, 0);
        _guest.Send(Ipv4(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 6, tcp));
        _guest.Send(EchoRequest(Ipv4Address.Parse("10.9.8.7"), 1, 1, [1]));
        AwaitAssert(() =>
        {
            var drops = Stats().Drops;
            Assert.Equal(1, drops.GetValueOrDefault(DropReason.TcpNoHandler));
            Assert.Equal(1, drops.GetValueOrDefault(DropReason.IcmpNotForGateway));
        }, Wait);
        _dns.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        _udp.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }
}
