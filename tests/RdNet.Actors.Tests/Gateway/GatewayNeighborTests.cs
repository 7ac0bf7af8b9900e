using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Gateway;

/// <summary>
/// What the gateway learns about the guests' MACs from the control plane (<see cref="NeighborTable"/>): the DHCP
/// leases it acknowledges and the ARP requests it answers, so that a port forward can address a guest that has not
/// sent it anything yet.
/// </summary>
public sealed class GatewayNeighborTests : IDisposable
{
    private static readonly VirtualNetwork Net = VirtualNetwork.Parse("192.168.127.0/24");
    private static readonly MacAddress Other = new(0x0200_0000_0042);
    private static readonly MacAddress Third = new(0x0200_0000_0043);
    private readonly FramePool _pool = new(16, 2000);
    private readonly FrameCollector _replies = new();
    private readonly NeighborTable _table;
    private readonly GatewayCore _core;

    public GatewayNeighborTests()
    {
        _table = new NeighborTable(Net, 2, new DropCounters());
        _core = GatewayRig.Core(Net, _pool, [GatewayService.Tcp], _table);
    }

    public void Dispose() => _replies.Dispose();

    private void Process(byte[] frame) => _core.Process(frame, DateTimeOffset.UnixEpoch, _replies);

    private static Ipv4Address Ip(string s) => Ipv4Address.Parse(s);

    [Fact]
    public void An_arp_request_for_the_gateway_teaches_the_sender_and_one_for_another_address_does_not()
    {
        Process(ArpRequest(Other, Ip("192.168.127.5"), Net.Gateway));
        Assert.True(_table.TryGet(Ip("192.168.127.5"), out var mac));
        Assert.Equal(Other, mac);

        Process(ArpRequest(Third, Ip("192.168.127.6"), Ip("192.168.127.9")));
        Assert.False(_table.TryGet(Ip("192.168.127.6"), out _));
        Assert.Equal(1, _core.Drops[DropReason.ArpNotForUs]);

        // A known address that moved to another MAC is updated by any ARP it sends (RFC 826).
        Process(ArpRequest(Third, Ip("192.168.127.5"), Ip("192.168.127.9")));
        Assert.True(_table.TryGet(Ip("192.168.127.5"), out mac));
        Assert.Equal(Third, mac);
    }

    [Fact]
    public void Only_guest_addresses_and_unicast_macs_are_learned()
    {
        Process(ArpRequest(Other, Ipv4Address.Any, Net.Gateway)); // an ARP probe
        Process(ArpRequest(Other, Ip("10.0.0.5"), Net.Gateway)); // not of the subnet
        Process(ArpRequest(Other, Net.HostAlias, Net.Gateway));
        Process(ArpRequest(MacAddress.Broadcast, Ip("192.168.127.5"), Net.Gateway));
        Assert.Equal(0, _table.Count);
    }

    [Fact]
    public void A_dhcp_ack_teaches_the_leased_address_and_an_offer_does_not()
    {
        Process(DhcpDiscover(Other, 7));
        var offer = ReadDhcp(_replies.Receive(TimeSpan.FromSeconds(1))!);
        Assert.Equal(DhcpMessageType.Offer, offer.MessageType);
        Assert.Equal(0, _table.Count);

        Process(DhcpRequest(Other, 8, offer.YourAddress));
        var ack = ReadDhcp(_replies.Receive(TimeSpan.FromSeconds(1))!);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.True(_table.TryGet(ack.YourAddress, out var mac));
        Assert.Equal(Other, mac);
    }

    [Fact]
    public void Beyond_its_capacity_a_new_address_is_counted_and_not_remembered_and_known_ones_still_update()
    {
        Process(ArpRequest(Other, Ip("192.168.127.5"), Net.Gateway));
        Process(ArpRequest(Other, Ip("192.168.127.6"), Net.Gateway));
        Process(ArpRequest(Other, Ip("192.168.127.7"), Net.Gateway));
        Assert.Equal(2, _table.Count);
        Assert.False(_table.TryGet(Ip("192.168.127.7"), out _));
        Assert.Equal(1, _core.Drops[DropReason.NeighborTableFull]);
        Assert.Equal(Net.GuestMac, _table.MacFor(Ip("192.168.127.7")));

        Process(ArpRequest(Third, Ip("192.168.127.6"), Net.Gateway));
        Assert.Equal(Third, _table.MacFor(Ip("192.168.127.6")));
    }

    private static byte[] DhcpRequest(MacAddress mac, uint xid, Ipv4Address address)
    {
        var msg = new DhcpMessage
        {
            TransactionId = xid,
            ClientHardwareAddress = mac,
            MessageType = DhcpMessageType.Request,
            ServerIdentifier = Net.Gateway,
            RequestedAddress = address,
        };
        var payload = new byte[msg.EncodedLength];
        msg.Emit(payload);
        return Udp(mac, MacAddress.Broadcast, Ipv4Address.Any, Ipv4Address.Broadcast, 68, 67, payload);
    }

    private static DhcpMessage ReadDhcp(byte[] frame)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.True(UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out _));
        Assert.True(DhcpMessage.TryParse(udp.Payload, out var message, out _));
        return message!;
    }
}
