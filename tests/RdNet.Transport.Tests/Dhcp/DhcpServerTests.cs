using RdNet.Transport.Diagnostics;
using RdNet.Transport.Protocols.Dhcp;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Dhcp;

public sealed class DhcpServerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromHours(1);
    private static readonly TimeSpan OfferHold = TimeSpan.FromSeconds(60);
    private static readonly MacAddress StaticMac = MacAddress.Parse("5a:94:ef:e4:0c:ee");
    private static readonly MacAddress OtherMac = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly MacAddress ThirdMac = MacAddress.Parse("02:00:00:00:00:02");
    private static readonly Ipv4Address Gateway = Ip("192.168.127.1");
    private static readonly Ipv4Address StaticIp = Ip("192.168.127.2");
    private static readonly Ipv4Address HostAlias = Ip("192.168.127.254");

    private static Ipv4Address Ip(string text) => Ipv4Address.Parse(text);

    private static MacAddress Mac(int n) => new(0x0200_0000_0000UL | (uint)n);

    private static DhcpServer Server(int prefixLength = 24, string network = "192.168.127.0", int maxLeases = 512, IReadOnlyList<string>? search = null) =>
        new(new DhcpServerOptions(
            ServerAddress: Gateway,
            Network: Ip(network),
            PrefixLength: prefixLength,
            Router: Gateway,
            DnsServers: [Gateway],
            Mtu: 1500,
            LeaseTime: LeaseTime,
            StaticLeases: new Dictionary<MacAddress, Ipv4Address> { [StaticMac] = StaticIp },
            Reserved: [Gateway, HostAlias],
            SearchDomains: search ?? [],
            MaxLeases: maxLeases,
            OfferHold: OfferHold));

    private static DhcpMessage Base(MacAddress mac, DhcpMessageType type, uint xid) => new()
    {
        Op = DhcpOpCode.BootRequest,
        TransactionId = xid,
        ClientHardwareAddress = mac,
        MessageType = type,
        ClientIdentifier = [1, .. MacBytes(mac)],
        ParameterRequestList = [1, 3, 6, 12, 15, 26, 28, 119],
    };

    private static byte[] MacBytes(MacAddress mac)
    {
        var b = new byte[6];
        mac.Write(b);
        return b;
    }

    private static DhcpMessage Discover(MacAddress mac, uint xid = 1) => Base(mac, DhcpMessageType.Discover, xid);

    private static DhcpMessage Select(MacAddress mac, Ipv4Address requested, Ipv4Address? serverId = null, uint xid = 1) =>
        Base(mac, DhcpMessageType.Request, xid) with { RequestedAddress = requested, ServerIdentifier = serverId ?? Gateway };

    private static DhcpMessage InitReboot(MacAddress mac, Ipv4Address requested, uint xid = 2) =>
        Base(mac, DhcpMessageType.Request, xid) with { RequestedAddress = requested };

    private static DhcpMessage Renew(MacAddress mac, Ipv4Address ciaddr, uint xid = 3) =>
        Base(mac, DhcpMessageType.Request, xid) with { ClientAddress = ciaddr };

    /// <summary>Every reply goes through the wire format, as a real client would see it.</summary>
    private static DhcpReply Expect(DhcpServer server, DhcpMessage request, DateTimeOffset now, DhcpMessageType type)
    {
        var reply = server.Handle(request, now, out var reason);
        Assert.Equal(DropReason.None, reason);
        Assert.NotNull(reply);
        var buffer = new byte[reply.Message.EncodedLength];
        reply.Message.Emit(buffer);
        Assert.True(DhcpMessage.TryParse(buffer, out var parsed, out var parseReason), parseReason.ToString());
        Assert.Equal(type, parsed!.MessageType);
        Assert.Equal(DhcpOpCode.BootReply, parsed.Op);
        Assert.Equal(request.TransactionId, parsed.TransactionId);
        Assert.Equal(request.ClientHardwareAddress, parsed.ClientHardwareAddress);
        Assert.Equal(request.Flags, parsed.Flags);
        return reply with { Message = parsed };
    }

    private static void ExpectDrop(DhcpServer server, DhcpMessage request, DateTimeOffset now, DropReason expected)
    {
        Assert.Null(server.Handle(request, now, out var reason));
        Assert.Equal(expected, reason);
    }

    private static Ipv4Address Acquire(DhcpServer server, MacAddress mac, DateTimeOffset now, uint xid = 10)
    {
        var offer = Expect(server, Discover(mac, xid), now, DhcpMessageType.Offer);
        Expect(server, Select(mac, offer.Message.YourAddress, xid: xid), now, DhcpMessageType.Ack);
        return offer.Message.YourAddress;
    }

    private static void AssertFullOptionSet(DhcpMessage m, bool withLeaseTime, bool withSearch = false)
    {
        Assert.Equal(Gateway, m.ServerIdentifier);
        Assert.Equal(withLeaseTime ? 3600u : null, m.LeaseTimeSeconds);
        Assert.Equal(Ip("255.255.255.0"), m.SubnetMask);
        Assert.Equal([Gateway], m.Routers);
        Assert.Equal([Gateway], m.DnsServers);
        Assert.Equal((ushort)1500, m.InterfaceMtu);
        if (withSearch) Assert.NotNull(m.DomainSearch);
        else Assert.Null(m.DomainSearch);
        // The original sends no T1/T2 and no domain name option.
        Assert.Null(m.RenewalTimeSeconds);
        Assert.Null(m.RebindingTimeSeconds);
        Assert.Empty(m.OtherOptions);
    }

    [Fact]
    public void The_static_mac_is_offered_and_acked_its_static_address_by_broadcast()
    {
        var server = Server();
        var offer = Expect(server, Discover(StaticMac, 0x1234), T0, DhcpMessageType.Offer);
        Assert.Equal(StaticIp, offer.Message.YourAddress);
        Assert.Equal(Ipv4Address.Broadcast, offer.DestinationAddress);
        Assert.Equal(MacAddress.Broadcast, offer.DestinationMac);
        AssertFullOptionSet(offer.Message, withLeaseTime: true);
        Assert.True(Assert.Single(server.Leases).Offered);

        var ack = Expect(server, Select(StaticMac, StaticIp, xid: 0x1234), T0, DhcpMessageType.Ack);
        Assert.Equal(StaticIp, ack.Message.YourAddress);
        Assert.Equal(Ipv4Address.Any, ack.Message.ClientAddress);
        Assert.Equal(Ipv4Address.Broadcast, ack.DestinationAddress);
        AssertFullOptionSet(ack.Message, withLeaseTime: true);
        Assert.Equal(new DhcpLease(StaticMac, StaticIp, T0 + LeaseTime, Static: true, Offered: false), Assert.Single(server.Leases));
    }

    [Fact]
    public void The_real_udhcpc_discover_gets_an_offer_of_the_static_address()
    {
        Assert.True(DhcpMessage.TryParse(DhcpMessageTests.UdhcpcDiscover, out var discover, out _));
        var offer = Expect(Server(), discover!, T0, DhcpMessageType.Offer);
        Assert.Equal(StaticIp, offer.Message.YourAddress);
        Assert.Equal(0x3903f326u, offer.Message.TransactionId);
    }

    [Fact]
    public void Another_mac_gets_the_first_free_pool_address_through_the_full_exchange()
    {
        var server = Server();
        var offer = Expect(server, Discover(OtherMac), T0, DhcpMessageType.Offer);
        Assert.Equal(Ip("192.168.127.3"), offer.Message.YourAddress);
        var ack = Expect(server, Select(OtherMac, Ip("192.168.127.3")), T0, DhcpMessageType.Ack);
        Assert.Equal(Ip("192.168.127.3"), ack.Message.YourAddress);
        Assert.Equal(new DhcpLease(OtherMac, Ip("192.168.127.3"), T0 + LeaseTime, Static: false, Offered: false), Assert.Single(server.Leases));
    }

    [Fact]
    public void The_pool_never_hands_out_network_broadcast_gateway_host_alias_or_static_addresses()
    {
        var server = Server();
        var given = new HashSet<Ipv4Address>();
        for (int i = 1; i <= 251; i++) Assert.True(given.Add(Acquire(server, Mac(i), T0)));

        var expected = Enumerable.Range(3, 251).Select(n => new Ipv4Address(192, 168, 127, (byte)n)).ToHashSet();
        Assert.Equal(expected, given);
        Assert.DoesNotContain(Ip("192.168.127.0"), given);
        Assert.DoesNotContain(Ip("192.168.127.255"), given);
        ExpectDrop(server, Discover(Mac(999)), T0, DropReason.DhcpPoolExhausted);
        // The static client is never crowded out by a full pool.
        Assert.Equal(StaticIp, Acquire(server, StaticMac, T0));
    }

    [Fact]
    public void A_slash_29_pool_runs_out_after_its_free_hosts_and_further_discovers_are_counted_drops()
    {
        var server = Server(prefixLength: 29);
        var given = Enumerable.Range(1, 4).Select(i => Acquire(server, Mac(i), T0)).ToArray();
        Assert.Equal([Ip("192.168.127.3"), Ip("192.168.127.4"), Ip("192.168.127.5"), Ip("192.168.127.6")], given);
        ExpectDrop(server, Discover(Mac(5)), T0, DropReason.DhcpPoolExhausted);
    }

    [Fact]
    public void More_clients_than_max_leases_are_refused_with_a_counted_drop()
    {
        var server = Server(maxLeases: 2);
        Acquire(server, Mac(1), T0);
        Expect(server, Discover(Mac(2)), T0, DhcpMessageType.Offer);
        ExpectDrop(server, Discover(Mac(3)), T0, DropReason.DhcpLeaseTableFull);
        ExpectDrop(server, InitReboot(Mac(3), Ip("192.168.127.50")), T0, DropReason.DhcpLeaseTableFull);
    }

    [Fact]
    public void A_mac_that_discovers_again_gets_its_existing_lease_back()
    {
        var server = Server();
        var first = Acquire(server, OtherMac, T0);
        Acquire(server, ThirdMac, T0);
        var offer = Expect(server, Discover(OtherMac, 77), T0 + TimeSpan.FromMinutes(5), DhcpMessageType.Offer);
        Assert.Equal(first, offer.Message.YourAddress);
        // Re-discovering does not shorten the bound lease to an offer hold.
        Assert.Contains(new DhcpLease(OtherMac, first, T0 + LeaseTime, false, false), server.Leases);
    }

    [Fact]
    public void A_discover_asking_for_a_free_address_is_offered_that_address()
    {
        var offer = Expect(Server(), Discover(OtherMac) with { RequestedAddress = Ip("192.168.127.77") }, T0, DhcpMessageType.Offer);
        Assert.Equal(Ip("192.168.127.77"), offer.Message.YourAddress);
    }

    [Theory]
    [InlineData("192.168.127.254")]
    [InlineData("192.168.127.2")]
    [InlineData("10.0.0.5")]
    public void A_discover_asking_for_an_unusable_address_is_offered_a_pool_address_instead(string requested)
    {
        var offer = Expect(Server(), Discover(OtherMac) with { RequestedAddress = Ip(requested) }, T0, DhcpMessageType.Offer);
        Assert.Equal(Ip("192.168.127.3"), offer.Message.YourAddress);
    }

    [Fact]
    public void A_selecting_request_for_an_address_that_was_not_offered_is_nakked_by_broadcast()
    {
        var server = Server();
        Expect(server, Discover(OtherMac), T0, DhcpMessageType.Offer);
        var nak = Expect(server, Select(OtherMac, Ip("192.168.127.40")), T0, DhcpMessageType.Nak);
        Assert.Equal(Ipv4Address.Broadcast, nak.DestinationAddress);
        Assert.Equal(MacAddress.Broadcast, nak.DestinationMac);
        Assert.Equal(Ipv4Address.Any, nak.Message.YourAddress);
        Assert.Equal(Gateway, nak.Message.ServerIdentifier);
        Assert.NotNull(nak.Message.Message);
        Assert.Null(nak.Message.LeaseTimeSeconds);
        Assert.Null(nak.Message.SubnetMask);
        Assert.Null(nak.Message.Routers);
    }

    [Fact]
    public void A_selecting_request_without_any_offer_is_nakked()
    {
        Expect(Server(), Select(OtherMac, Ip("192.168.127.3")), T0, DhcpMessageType.Nak);
    }

    [Fact]
    public void A_selecting_request_for_another_server_gets_no_reply_and_frees_our_offer()
    {
        var server = Server();
        Expect(server, Discover(OtherMac), T0, DhcpMessageType.Offer);
        ExpectDrop(server, Select(OtherMac, Ip("192.168.127.3"), serverId: Ip("192.168.127.99")), T0, DropReason.DhcpNotForUs);
        Assert.Empty(server.Leases);
    }

    [Fact]
    public void An_init_reboot_request_for_its_own_or_a_free_address_is_acked()
    {
        var server = Server();
        Expect(server, InitReboot(StaticMac, StaticIp), T0, DhcpMessageType.Ack);
        var ack = Expect(server, InitReboot(OtherMac, Ip("192.168.127.60")), T0, DhcpMessageType.Ack);
        Assert.Equal(Ip("192.168.127.60"), ack.Message.YourAddress);
        Assert.Equal(Ipv4Address.Broadcast, ack.DestinationAddress);
        Expect(server, InitReboot(OtherMac, Ip("192.168.127.60")), T0 + TimeSpan.FromMinutes(1), DhcpMessageType.Ack);
    }

    [Theory]
    [InlineData("10.0.0.5")]          // wrong subnet
    [InlineData("192.168.127.0")]     // network address
    [InlineData("192.168.127.255")]   // broadcast address
    [InlineData("192.168.127.1")]     // the gateway
    [InlineData("192.168.127.254")]   // the host alias
    [InlineData("192.168.127.2")]     // the static client's address
    [InlineData("192.168.127.3")]     // bound to another client
    public void An_init_reboot_request_for_an_address_that_is_not_valid_for_the_client_is_nakked(string requested)
    {
        var server = Server();
        Assert.Equal(Ip("192.168.127.3"), Acquire(server, ThirdMac, T0));
        var nak = Expect(server, InitReboot(OtherMac, Ip(requested)), T0, DhcpMessageType.Nak);
        Assert.Equal(Ipv4Address.Broadcast, nak.DestinationAddress);
    }

    [Fact]
    public void The_static_client_asking_for_some_other_address_is_nakked_so_it_returns_to_its_own()
    {
        Expect(Server(), InitReboot(StaticMac, Ip("192.168.127.50")), T0, DhcpMessageType.Nak);
    }

    [Fact]
    public void A_request_with_no_server_id_no_requested_address_and_no_ciaddr_is_nakked()
    {
        Expect(Server(), Base(OtherMac, DhcpMessageType.Request, 5), T0, DhcpMessageType.Nak);
    }

    [Fact]
    public void A_renewal_is_acked_by_unicast_to_ciaddr_and_extends_the_lease()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);
        var later = T0 + TimeSpan.FromMinutes(30);
        var ack = Expect(server, Renew(OtherMac, address), later, DhcpMessageType.Ack);
        Assert.Equal(address, ack.DestinationAddress);
        Assert.Equal(OtherMac, ack.DestinationMac);
        Assert.Equal(address, ack.Message.ClientAddress);
        Assert.Equal(address, ack.Message.YourAddress);
        AssertFullOptionSet(ack.Message, withLeaseTime: true);
        Assert.Equal(later + LeaseTime, Assert.Single(server.Leases).Expires);
    }

    [Fact]
    public void A_renewal_of_another_clients_address_is_nakked_by_broadcast()
    {
        var server = Server();
        var theirs = Acquire(server, ThirdMac, T0);
        Acquire(server, OtherMac, T0);
        var nak = Expect(server, Renew(OtherMac, theirs), T0, DhcpMessageType.Nak);
        Assert.Equal(Ipv4Address.Broadcast, nak.DestinationAddress);
        Assert.Equal(MacAddress.Broadcast, nak.DestinationMac);
    }

    [Fact]
    public void A_renewal_from_outside_the_subnet_is_nakked()
    {
        Expect(Server(), Renew(OtherMac, Ip("10.1.2.3")), T0, DhcpMessageType.Nak);
    }

    [Fact]
    public void A_renewal_after_the_lease_ran_out_rebinds_the_same_address_when_it_is_still_free()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);
        var ack = Expect(server, Renew(OtherMac, address), T0 + LeaseTime + TimeSpan.FromHours(3), DhcpMessageType.Ack);
        Assert.Equal(address, ack.Message.YourAddress);
    }

    [Fact]
    public void An_expired_lease_frees_its_address_for_another_client_exactly_at_expiry()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);

        Assert.Equal(0, server.ExpireLeases(T0 + LeaseTime - TimeSpan.FromTicks(1)));
        var before = Expect(server, Discover(ThirdMac), T0 + LeaseTime - TimeSpan.FromTicks(1), DhcpMessageType.Offer);
        Assert.NotEqual(address, before.Message.YourAddress);

        Assert.Equal(2, server.ExpireLeases(T0 + LeaseTime + OfferHold));
        Assert.Empty(server.Leases);
        var after = Expect(server, Discover(ThirdMac), T0 + LeaseTime + OfferHold, DhcpMessageType.Offer);
        Assert.Equal(address, after.Message.YourAddress);
    }

    [Fact]
    public void Leases_expire_lazily_when_a_request_arrives_at_or_after_expiry()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);
        var offer = Expect(server, Discover(ThirdMac), T0 + LeaseTime, DhcpMessageType.Offer);
        Assert.Equal(address, offer.Message.YourAddress);
        // The first client's renewal now finds its address held by someone else.
        Expect(server, Renew(OtherMac, address), T0 + LeaseTime, DhcpMessageType.Nak);
    }

    [Fact]
    public void An_offer_not_taken_within_the_hold_time_is_released()
    {
        var server = Server();
        var offered = Expect(server, Discover(OtherMac), T0, DhcpMessageType.Offer).Message.YourAddress;
        var other = Expect(server, Discover(ThirdMac), T0 + OfferHold, DhcpMessageType.Offer).Message.YourAddress;
        Assert.Equal(offered, other);
        Expect(server, Select(OtherMac, offered), T0 + OfferHold, DhcpMessageType.Nak);
    }

    [Fact]
    public void A_release_frees_the_address_for_the_next_client()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);
        Assert.Null(server.Handle(Base(OtherMac, DhcpMessageType.Release, 9) with { ClientAddress = address, ServerIdentifier = Gateway }, T0, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Empty(server.Leases);
        Assert.Equal(address, Acquire(server, ThirdMac, T0));
    }

    [Fact]
    public void A_release_from_the_static_client_frees_its_record_but_it_keeps_its_address()
    {
        var server = Server();
        Acquire(server, StaticMac, T0);
        server.Handle(Base(StaticMac, DhcpMessageType.Release, 9) with { ClientAddress = StaticIp }, T0, out _);
        Assert.Empty(server.Leases);
        Assert.Equal(StaticIp, Acquire(server, StaticMac, T0));
    }

    [Fact]
    public void A_release_naming_another_server_is_a_counted_drop_and_keeps_the_lease()
    {
        var server = Server();
        var address = Acquire(server, OtherMac, T0);
        ExpectDrop(server, Base(OtherMac, DhcpMessageType.Release, 9) with { ClientAddress = address, ServerIdentifier = Ip("192.168.127.99") }, T0, DropReason.DhcpNotForUs);
        Assert.Single(server.Leases);
    }

    [Fact]
    public void A_declined_address_leaves_the_pool_for_one_lease_time_and_the_client_gets_another()
    {
        var server = Server();
        var offered = Expect(server, Discover(OtherMac), T0, DhcpMessageType.Offer).Message.YourAddress;
        Expect(server, Select(OtherMac, offered), T0, DhcpMessageType.Ack);
        var decline = Base(OtherMac, DhcpMessageType.Decline, 4) with { RequestedAddress = offered, ServerIdentifier = Gateway };
        Assert.Null(server.Handle(decline, T0, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Empty(server.Leases);

        var next = Expect(server, Discover(OtherMac), T0 + TimeSpan.FromSeconds(1), DhcpMessageType.Offer).Message.YourAddress;
        Assert.NotEqual(offered, next);
        Expect(server, InitReboot(ThirdMac, offered), T0 + TimeSpan.FromSeconds(1), DhcpMessageType.Nak);

        var afterQuarantine = T0 + LeaseTime;
        Assert.Equal(offered, Expect(server, Discover(ThirdMac), afterQuarantine, DhcpMessageType.Offer).Message.YourAddress);
    }

    [Fact]
    public void An_inform_gets_an_ack_with_the_options_but_no_address_or_lease_time_unicast_to_ciaddr()
    {
        var server = Server(search: ["example.com"]);
        var ciaddr = Ip("192.168.127.80");
        var ack = Expect(server, Base(OtherMac, DhcpMessageType.Inform, 6) with { ClientAddress = ciaddr }, T0, DhcpMessageType.Ack);
        Assert.Equal(Ipv4Address.Any, ack.Message.YourAddress);
        Assert.Equal(ciaddr, ack.Message.ClientAddress);
        Assert.Equal(ciaddr, ack.DestinationAddress);
        Assert.Equal(OtherMac, ack.DestinationMac);
        AssertFullOptionSet(ack.Message, withLeaseTime: false, withSearch: true);
        Assert.Empty(server.Leases);
    }

    [Fact]
    public void Search_domains_are_sent_as_option_119_in_rfc_1035_label_bytes()
    {
        var server = Server(search: ["rancher.internal", "example.com"]);
        var offer = server.Handle(Discover(OtherMac), T0, out _)!;
        var buffer = new byte[offer.Message.EncodedLength];
        offer.Message.Emit(buffer);
        Assert.True(DhcpPacket.TryCreate(buffer, out var view, out _));
        Assert.True(view.TryGetOption(DhcpOptionCode.DomainSearch, out var data));
        Assert.Equal(
            DhcpMessageTests.Hex("07 72616e63686572 08 696e7465726e616c 00", "07 6578616d706c65 03 636f6d 00"),
            data.ToArray());
    }

    [Fact]
    public void Offers_and_acks_carry_options_in_the_order_53_54_51_1_3_6_26_119()
    {
        var server = Server(search: ["example.com"]);
        var offer = server.Handle(Discover(OtherMac), T0, out _)!;
        var buffer = new byte[offer.Message.EncodedLength];
        offer.Message.Emit(buffer);
        Assert.True(DhcpPacket.TryCreate(buffer, out var view, out _));
        var codes = new List<byte>();
        foreach (var option in view.Options) codes.Add(option.Code);
        Assert.Equal([(byte)53, (byte)54, (byte)51, (byte)1, (byte)3, (byte)6, (byte)26, (byte)119], codes);
    }

    [Fact]
    public void A_minimal_old_client_without_client_id_or_parameter_list_still_gets_the_full_option_set()
    {
        var server = Server(search: ["example.com"]);
        var bare = new DhcpMessage { TransactionId = 42, ClientHardwareAddress = OtherMac, MessageType = DhcpMessageType.Discover };
        var offer = Expect(server, bare, T0, DhcpMessageType.Offer);
        AssertFullOptionSet(offer.Message, withLeaseTime: true, withSearch: true);
        var ack = Expect(server, bare with { MessageType = DhcpMessageType.Request, RequestedAddress = offer.Message.YourAddress, ServerIdentifier = Gateway }, T0, DhcpMessageType.Ack);
        AssertFullOptionSet(ack.Message, withLeaseTime: true, withSearch: true);
    }

    [Fact]
    public void Replies_copy_xid_flags_and_chaddr_and_still_broadcast_when_the_broadcast_flag_is_set()
    {
        var offer = Expect(Server(), Discover(OtherMac, 0xCAFEBABE) with { Flags = DhcpPacket.BroadcastFlagMask }, T0, DhcpMessageType.Offer);
        Assert.True(offer.Message.BroadcastFlag);
        Assert.Equal(Ipv4Address.Broadcast, offer.DestinationAddress);
    }

    [Fact]
    public void A_reply_emitted_into_a_dirty_buffer_contains_no_stale_bytes()
    {
        var reply = Server(search: ["example.com"]).Handle(Discover(OtherMac), T0, out _)!;
        var buffer = new byte[1514];
        buffer.AsSpan().Fill(0xAA);
        int length = reply.Message.Emit(buffer);
        Assert.True(DhcpPacket.TryCreate(buffer.AsSpan(0, length), out var view, out _));
        Assert.All(buffer[DhcpPacket.ServerNameOffset..DhcpPacket.MagicCookieOffset], b => Assert.Equal(0, b));
        Assert.All(buffer[view.LengthThroughEnd..length], b => Assert.Equal(0, b));
        Assert.DoesNotContain((byte)0xAA, buffer[..length]);
        Assert.All(buffer[length..], b => Assert.Equal(0xAA, b));
    }

    [Fact]
    public void A_relayed_request_is_a_counted_drop()
    {
        ExpectDrop(Server(), Discover(OtherMac) with { RelayAddress = Ip("10.0.0.1") }, T0, DropReason.DhcpRelayNotSupported);
    }

    [Fact]
    public void A_bootreply_sent_to_the_server_is_a_counted_drop()
    {
        ExpectDrop(Server(), Discover(OtherMac) with { Op = DhcpOpCode.BootReply }, T0, DropReason.DhcpNotBootRequest);
    }

    [Theory]
    [InlineData(DhcpMessageType.Offer)]
    [InlineData(DhcpMessageType.Ack)]
    [InlineData(DhcpMessageType.Nak)]
    public void Server_to_client_message_types_from_a_client_are_counted_drops(DhcpMessageType type)
    {
        ExpectDrop(Server(), Base(OtherMac, type, 1), T0, DropReason.DhcpUnsupportedMessageType);
    }

    [Fact]
    public void A_message_without_a_type_is_a_counted_drop()
    {
        ExpectDrop(Server(), Discover(OtherMac) with { MessageType = null }, T0, DropReason.DhcpNoMessageType);
    }

    [Theory]
    [InlineData("ff:ff:ff:ff:ff:ff")]
    [InlineData("01:00:5e:00:00:01")]
    [InlineData("00:00:00:00:00:00")]
    public void A_group_or_zero_client_hardware_address_is_a_counted_drop(string mac)
    {
        ExpectDrop(Server(), Discover(MacAddress.Parse(mac)), T0, DropReason.DhcpBadClientHardwareAddress);
    }

    [Fact]
    public void A_non_ethernet_hardware_type_is_a_counted_drop()
    {
        ExpectDrop(Server(), Discover(OtherMac) with { HardwareType = 6, HardwareLength = 6 }, T0, DropReason.DhcpUnsupportedHardwareType);
    }

    [Fact]
    public void A_configuration_with_invalid_search_domains_or_misaligned_network_is_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => Server(search: ["bad..name"]));
        Assert.Throws<ArgumentException>(() => Server(network: "192.168.127.5"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Server(prefixLength: 31));
    }

    [Fact]
    public void Drop_reasons_from_the_server_are_countable()
    {
        var counters = new DropCounters();
        var server = Server(prefixLength: 30);
        // A /30 has hosts .1 and .2 only: both taken by the gateway and the static lease.
        server.Handle(Discover(OtherMac), T0, out var reason);
        counters.Increment(reason);
        Assert.Equal(1, counters[DropReason.DhcpPoolExhausted]);
    }
}
