using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Gateway;
using RdNet.Actors.Switch;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dhcp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Switch.SwitchProtocol;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Gateway;

/// <summary>
/// The gateway as a switch port, driven by a guest over an in-memory link: ARP only for .1/.254, ICMP echo for .1,
/// DHCP, and RELIABILITY rows 1–4 and 6 as counted drops that leave everything else working.
/// </summary>
public sealed class GatewayActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private readonly FramePool _pool = new(512, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly IActorRef _router;
    private readonly IActorRef _gateway;
    private readonly LinkPeer _guest;

    public GatewayActorTests()
    {
        var dhcp = new DhcpServer(new DhcpServerOptions(_net.Gateway, _net.Network, _net.PrefixLength, _net.Gateway, [_net.Gateway], 1500,
            TimeSpan.FromHours(1), new Dictionary<MacAddress, Ipv4Address> { [_net.GuestMac] = _net.Guest }, [_net.Gateway, _net.HostAlias], ["e2e.test"], 64, TimeSpan.FromSeconds(30)));
        (_router, _gateway, _guest) = GatewayRig.Start(this, _pool, _net, new GatewayCore(_net, dhcp, _pool, new DropCounters()));
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

    private byte[]? ArpReplyFor(Ipv4Address target)
    {
        _guest.Send(ArpRequest(GuestMac, Guest, target));
        return _guest.Receive(Quiet * 3, f => IsEthernetType(f, EtherType.Arp));
    }

    [Fact]
    public void Arp_is_answered_for_the_gateway_and_the_host_alias_with_the_gateway_mac()
    {
        foreach (var target in new[] { _net.Gateway, _net.HostAlias })
        {
            var reply = ArpReplyFor(target);
            Assert.NotNull(reply);
            EthernetFrame.TryCreate(reply, out var eth, out _);
            Assert.Equal(GuestMac, eth.Destination);
            ArpPacket.TryCreate(eth.Payload, out var arp, out _);
            Assert.Equal(ArpOperation.Reply, arp.Operation);
            Assert.Equal(target, arp.SenderProtocol);
            Assert.Equal(GatewayMac, arp.SenderHardware);
            Assert.Equal(Guest, arp.TargetProtocol);
        }
    }

    [Fact]
    public void Arp_for_any_other_address_gets_no_answer_and_is_counted()
    {
        Assert.Null(ArpReplyFor(Ipv4Address.Parse("192.168.127.77")));
        Assert.Equal(1, Stats().Drops[DropReason.ArpNotForUs]);
    }

    [Fact]
    public void Echo_to_the_gateway_is_answered_with_the_same_identifier_sequence_and_data()
    {
        var data = new byte[] { 1, 2, 3, 4, 5, 6, 7 }; // odd length on purpose
        _guest.Send(EchoRequest(_net.Gateway, 0x1234, 7, data));
        var reply = _guest.Receive(Wait, f => IsEthernetType(f, EtherType.Ipv4));
        Assert.NotNull(reply);
        EthernetFrame.TryCreate(reply, out var eth, out _);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(_net.Gateway, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(IcmpPacket.TryCreate(ip.Payload, out var icmp, out _));
        Assert.Equal(IcmpType.EchoReply, icmp.Type);
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(7, icmp.SequenceNumber);
        Assert.Equal(data, icmp.Data.ToArray());
    }

    [Fact]
    public void Echo_to_an_address_the_gateway_does_not_own_is_not_faked()
    {
        _guest.Send(EchoRequest(Ipv4Address.Parse("192.0.2.1"), 1, 1, new byte[8]));
        Assert.Null(_guest.Receive(Quiet, f => IsEthernetType(f, EtherType.Ipv4)));
        Assert.Equal(1, Stats().Drops[DropReason.IcmpNotForGateway]);
    }

    [Fact]
    public void A_dhcp_discover_from_the_tap_mac_is_offered_the_static_lease_by_broadcast()
    {
        _guest.Send(DhcpDiscover(GuestMac, 0xCAFE));
        var reply = _guest.Receive(Wait, f => IsEthernetType(f, EtherType.Ipv4));
        Assert.NotNull(reply);
        EthernetFrame.TryCreate(reply, out var eth, out _);
        Assert.Equal(MacAddress.Broadcast, eth.Destination);
        Ipv4Packet.TryCreate(eth.Payload, out var ip, out _);
        Assert.Equal(Ipv4Address.Broadcast, ip.Destination);
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out _));
        Assert.Equal(67, udp.SourcePort);
        Assert.Equal(68, udp.DestinationPort);
        Assert.True(DhcpMessage.TryParse(udp.Payload, out var offer, out _));
        Assert.Equal(DhcpMessageType.Offer, offer!.MessageType);
        Assert.Equal(0xCAFEu, offer.TransactionId);
        Assert.Equal(_net.Guest, offer.YourAddress);
        Assert.Equal(_net.Gateway, offer.ServerIdentifier);
        Assert.Equal([_net.Gateway], offer.Routers);
        Assert.Equal([_net.Gateway], offer.DnsServers);
        Assert.Equal((ushort)1500, offer.InterfaceMtu);
        Assert.Equal(Ipv4Address.Parse("255.255.255.0"), offer.SubnetMask);
        Assert.Equal(["e2e.test"], offer.DomainSearch);
    }

    public static TheoryData<string, byte[], DropReason> MalformedPackets()
    {
        var data = new TheoryData<string, byte[], DropReason>();
        byte[] Ip(Action<byte[]> corrupt, int l4 = 8)
        {
            var f = Udp(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, 5000, 9, new byte[l4 - 8]);
            var ip = f.AsSpan(14).ToArray();
            corrupt(ip);
            ip.CopyTo(f, 14);
            return f;
        }
        static void FixChecksum(byte[] ip)
        {
            ip[10] = ip[11] = 0;
            var ihl = (ip[0] & 0xF) * 4;
            var c = InternetChecksum.Compute(ip.AsSpan(0, Math.Min(ihl, ip.Length)));
            ip[10] = (byte)(c >> 8);
            ip[11] = (byte)c;
        }
        data.Add("version 6 in an IPv4 frame", Ip(ip => { ip[0] = 0x65; FixChecksum(ip); }), DropReason.Ipv4BadVersion);
        data.Add("IHL below 5", Ip(ip => { ip[0] = 0x44; }), DropReason.Ipv4HeaderLengthTooSmall);
        data.Add("IHL past the buffer", Ip(ip => { ip[0] = 0x4F; }), DropReason.Ipv4HeaderPastBuffer);
        data.Add("total length shorter than the header", Ip(ip => { ip[2] = 0; ip[3] = 10; FixChecksum(ip); }), DropReason.Ipv4TotalLengthTooSmall);
        data.Add("total length past the buffer", Ip(ip => { ip[2] = 0x05; ip[3] = 0xDC; FixChecksum(ip); }), DropReason.Ipv4TotalLengthPastBuffer);
        data.Add("bad header checksum", Ip(ip => { ip[10] ^= 0xFF; }), DropReason.Ipv4BadHeaderChecksum);
        data.Add("UDP length below 8", Ip(ip => { ip[24] = 0; ip[25] = 4; ip[26] = ip[27] = 0; }), DropReason.UdpLengthTooSmall);
        data.Add("UDP length past the IP payload", Ip(ip => { ip[24] = 0; ip[25] = 200; ip[26] = ip[27] = 0; }), DropReason.UdpLengthPastPayload);
        data.Add("runt ARP", Ethernet(MacAddress.Broadcast, GuestMac, EtherType.Arp, new byte[10]), DropReason.ArpTruncated);
        var tcp = new byte[20];
        tcp[12] = 0x30; // data offset 3 words
        data.Add("TCP data offset below 5", Ipv4(GuestMac, GatewayMac, Guest, GuestFrames.Gateway, IpProtocol.Tcp, tcp), DropReason.TcpDataOffsetTooSmall);
        data.Add("DHCP shorter than its fixed header", Udp(GuestMac, MacAddress.Broadcast, Ipv4Address.Any, Ipv4Address.Broadcast, 68, 67, new byte[100]), DropReason.DhcpTruncated);
        data.Add("IPv4 header truncated", Ethernet(GatewayMac, GuestMac, EtherType.Ipv4, new byte[12]), DropReason.Ipv4Truncated);
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public void A_malformed_packet_is_a_counted_drop_and_the_gateway_keeps_answering(string what, byte[] frame, DropReason reason)
    {
        _ = what;
        _guest.Send(frame);
        AwaitCondition(() => Stats().Drops.GetValueOrDefault(reason) == 1, Wait);
        Assert.Null(_guest.Receive(Quiet, f => IsEthernetType(f, EtherType.Ipv4)));
        Assert.NotNull(ArpReplyFor(_net.Gateway));
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void A_guest_spoofing_the_gateway_mac_is_dropped_and_the_gateway_still_answers()
    {
        _guest.Send(Ethernet(MacAddress.Broadcast, GatewayMac, EtherType.Arp, new byte[28]));
        AwaitCondition(() =>
        {
            _router.Tell(GetStats.Instance, TestActor);
            return ExpectMsg<RouterStats>(Wait).Drops.GetValueOrDefault(DropReason.SourceMacIsGateway) == 1;
        }, Wait);
        Assert.NotNull(ArpReplyFor(_net.Gateway));
    }
}
