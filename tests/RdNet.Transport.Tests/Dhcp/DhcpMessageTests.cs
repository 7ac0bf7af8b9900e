using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Dhcp;

public sealed class DhcpMessageTests
{
    private static readonly MacAddress GuestMac = MacAddress.Parse("5a:94:ef:e4:0c:ee");

    // A DHCPDISCOVER as BusyBox 1.35 udhcpc sends it from the Rancher Desktop guest: broadcast flag clear,
    // client id 01+chaddr, max size 576, vendor class, host name, BusyBox's default parameter list,
    // END, then zero padding to the 300-byte BOOTP minimum.
    internal static readonly byte[] UdhcpcDiscover = Hex(
        "01 01 06 00",                                  // op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
        "39 03 f3 26",                                  // xid
        "00 00 00 00",                                  // secs, flags
        "00000000 00000000 00000000 00000000",          // ciaddr yiaddr siaddr giaddr
        "5a94efe40cee 00000000000000000000",            // chaddr (16)
        Zeros(64), Zeros(128),                          // sname, file
        "63 82 53 63",                                  // magic cookie
        "35 01 01",                                     // 53 DHCPDISCOVER
        "3d 07 01 5a94efe40cee",                        // 61 client id: type 1 + MAC
        "39 02 02 40",                                  // 57 max message size 576
        "3c 0c 756468637020312e33352e30",               // 60 "udhcp 1.35.0"
        "0c 0f 72616e636865722d6465736b746f70",         // 12 "rancher-desktop"
        "37 07 01 03 06 0c 0f 1c 2a",                   // 55 subnet router dns hostname domain broadcast ntp
        "ff",                                           // END
        Zeros(3));                                      // pad to 300

    internal static byte[] Hex(params string[] parts) => Convert.FromHexString(string.Concat(parts).Replace(" ", string.Empty, StringComparison.Ordinal));

    private static string Zeros(int bytes) => new('0', bytes * 2);

    private static byte[] Mutate(byte[] source, Action<byte[]> change)
    {
        var copy = (byte[])source.Clone();
        change(copy);
        return copy;
    }

    /// <summary>Replaces the udhcpc options area (from the cookie on) with the given options, zero-padded to 300.</summary>
    private static byte[] WithOptions(string optionsHex, int totalLength = 300)
    {
        var options = Hex(optionsHex);
        var bytes = new byte[Math.Max(totalLength, DhcpPacket.OptionsOffset + options.Length)];
        UdhcpcDiscover.AsSpan(0, DhcpPacket.OptionsOffset).CopyTo(bytes);
        options.CopyTo(bytes, DhcpPacket.OptionsOffset);
        return bytes[..totalLength];
    }

    private static DropReason ParseFailure(byte[] bytes)
    {
        Assert.False(DhcpMessage.TryParse(bytes, out var message, out var reason));
        Assert.Null(message);
        return reason;
    }

    [Fact]
    public void Udhcpc_discover_decodes_into_every_field()
    {
        Assert.Equal(300, UdhcpcDiscover.Length);
        Assert.True(DhcpMessage.TryParse(UdhcpcDiscover, out var m, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.NotNull(m);
        Assert.Equal(DhcpOpCode.BootRequest, m.Op);
        Assert.Equal(1, m.HardwareType);
        Assert.Equal(6, m.HardwareLength);
        Assert.Equal(0x3903f326u, m.TransactionId);
        Assert.False(m.BroadcastFlag);
        Assert.Equal(Ipv4Address.Any, m.ClientAddress);
        Assert.Equal(GuestMac, m.ClientHardwareAddress);
        Assert.Equal(DhcpMessageType.Discover, m.MessageType);
        Assert.Equal(Hex("01 5a94efe40cee"), m.ClientIdentifier);
        Assert.Equal((ushort)576, m.MaximumMessageSize);
        Assert.Equal("rancher-desktop", m.HostName);
        Assert.Equal(Hex("01 03 06 0c 0f 1c 2a"), m.ParameterRequestList);
        Assert.Null(m.RequestedAddress);
        Assert.Null(m.ServerIdentifier);
        var vendor = Assert.Single(m.OtherOptions);
        Assert.Equal(DhcpOptionCode.VendorClassIdentifier, vendor.Code);
        Assert.Equal("udhcp 1.35.0", System.Text.Encoding.ASCII.GetString(vendor.Data.Span));
    }

    [Fact]
    public void Udhcpc_discover_encodes_back_to_the_same_bytes()
    {
        Assert.True(DhcpMessage.TryParse(UdhcpcDiscover, out var m, out _));
        var buffer = new byte[m!.EncodedLength];
        Assert.Equal(UdhcpcDiscover.Length, m.Emit(buffer));
        Assert.Equal(UdhcpcDiscover, buffer);
    }

    [Fact]
    public void View_exposes_the_header_and_walks_options_skipping_pad()
    {
        var bytes = WithOptions("00 00 35 01 03 00 32 04 c0a87f02 ff");
        Assert.True(DhcpPacket.TryCreate(bytes, out var view, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(GuestMac, view.ClientHardwareAddress);
        Assert.Equal(DhcpPacket.OptionsOffset + 13, view.LengthThroughEnd);
        var codes = new List<byte>();
        foreach (var option in view.Options) codes.Add(option.Code);
        Assert.Equal([(byte)53, (byte)50], codes);
        Assert.True(view.TryGetOption(DhcpOptionCode.RequestedIpAddress, out var requested));
        Assert.Equal(new Ipv4Address(192, 168, 127, 2), Ipv4Address.Read(requested));
        Assert.False(view.TryGetOption(DhcpOptionCode.ServerIdentifier, out _));
    }

    [Fact]
    public void A_payload_shorter_than_the_fixed_header_and_cookie_is_dropped_as_truncated()
    {
        Assert.Equal(DropReason.DhcpTruncated, ParseFailure(UdhcpcDiscover[..239]));
        Assert.Equal(DropReason.DhcpTruncated, ParseFailure([]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public void An_op_other_than_request_or_reply_is_dropped(byte op)
    {
        Assert.Equal(DropReason.DhcpBadOp, ParseFailure(Mutate(UdhcpcDiscover, b => b[DhcpPacket.OpOffset] = op)));
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(1, 0)]
    [InlineData(6, 17)]
    [InlineData(6, 255)]
    public void An_ethernet_hlen_other_than_6_or_any_hlen_over_16_is_dropped(byte htype, byte hlen)
    {
        var bytes = Mutate(UdhcpcDiscover, b =>
        {
            b[DhcpPacket.HardwareTypeOffset] = htype;
            b[DhcpPacket.HardwareLengthOffset] = hlen;
        });
        Assert.Equal(DropReason.DhcpBadHardwareLength, ParseFailure(bytes));
    }

    [Fact]
    public void A_non_ethernet_hardware_type_with_hlen_16_is_valid_on_the_wire()
    {
        var bytes = Mutate(UdhcpcDiscover, b =>
        {
            b[DhcpPacket.HardwareTypeOffset] = 6;
            b[DhcpPacket.HardwareLengthOffset] = 16;
        });
        Assert.True(DhcpMessage.TryParse(bytes, out _, out _));
    }

    [Fact]
    public void A_wrong_magic_cookie_is_dropped()
    {
        Assert.Equal(DropReason.DhcpBadMagicCookie, ParseFailure(Mutate(UdhcpcDiscover, b => b[DhcpPacket.MagicCookieOffset + 3] = 0x64)));
    }

    [Fact]
    public void An_option_whose_length_runs_past_the_buffer_is_dropped()
    {
        // Host name claims 32 bytes where only a few remain.
        Assert.Equal(DropReason.DhcpOptionPastEnd, ParseFailure(WithOptions("35 01 01 0c 20 616263", totalLength: 248)));
    }

    [Fact]
    public void An_option_code_in_the_last_byte_without_its_length_is_dropped()
    {
        Assert.Equal(DropReason.DhcpOptionPastEnd, ParseFailure(WithOptions("35 01 01 0c", totalLength: 244)));
    }

    [Fact]
    public void Options_without_an_end_option_are_dropped()
    {
        // All pad after the message type: the walk reaches the buffer end without meeting 255.
        Assert.Equal(DropReason.DhcpNoEndOption, ParseFailure(WithOptions("35 01 01")));
        Assert.Equal(DropReason.DhcpNoEndOption, ParseFailure(WithOptions(string.Empty, totalLength: 240)));
    }

    [Fact]
    public void A_message_without_option_53_is_dropped()
    {
        Assert.Equal(DropReason.DhcpNoMessageType, ParseFailure(WithOptions("3d 07 01 5a94efe40cee ff")));
    }

    [Theory]
    [InlineData("35 01 00 ff")]
    [InlineData("35 01 09 ff")]
    public void A_message_type_outside_1_to_8_is_dropped_as_unsupported(string options)
    {
        Assert.Equal(DropReason.DhcpUnsupportedMessageType, ParseFailure(WithOptions(options)));
    }

    [Theory]
    [InlineData("35 02 01 01 ff")]                 // message type of two bytes
    [InlineData("35 01 03 32 03 c0a87f ff")]       // requested address of three bytes
    [InlineData("35 01 03 36 05 c0a87f0100 ff")]   // server id of five bytes
    [InlineData("35 01 01 39 01 02 ff")]           // max message size of one byte
    [InlineData("35 01 05 06 06 c0a87f01c0a8 ff")] // DNS list not a multiple of four
    [InlineData("35 01 05 33 02 0e10 ff")]         // lease time of two bytes
    [InlineData("35 01 01 3d 01 01 ff")]           // client id with a type but no identifier
    [InlineData("35 01 05 77 04 03 616263 ff")]    // search name without its terminating zero
    [InlineData("35 01 05 77 02 c0 00 ff")]        // search name pointing at itself
    [InlineData("35 01 05 77 04 01 61 c0 05 ff")]  // search name pointing forward
    public void An_option_with_a_malformed_value_is_dropped(string options)
    {
        Assert.Equal(DropReason.DhcpBadOptionValue, ParseFailure(WithOptions(options)));
    }

    [Fact]
    public void Repeated_option_instances_are_concatenated_per_rfc_3396()
    {
        Assert.True(DhcpMessage.TryParse(WithOptions("35 01 01 0c 03 726463 0c 02 2d31 ff"), out var m, out _));
        Assert.Equal("rdc-1", m!.HostName);
    }

    [Fact]
    public void Search_domains_encode_as_rfc_1035_labels_without_compression()
    {
        var bytes = DhcpDomainSearch.Encode(["example.com", "corp.internal."]);
        Assert.Equal(Hex("07 6578616d706c65 03 636f6d 00", "04 636f7270 08 696e7465726e616c 00"), bytes);
    }

    [Fact]
    public void Search_domains_with_a_backward_compression_pointer_decode()
    {
        // "eng.example.com" then "example.com" via a pointer to offset 4 (RFC 3397 §2 example shape).
        var data = Hex("03 656e67 07 6578616d706c65 03 636f6d 00", "c0 04");
        Assert.True(DhcpDomainSearch.TryDecode(data, out var names));
        Assert.Equal(["eng.example.com", "example.com"], names);
    }

    [Theory]
    [InlineData("bad..name")]
    [InlineData("caf\u00e9.example")]
    public void Search_domains_that_are_not_ascii_labels_are_refused_at_encode(string domain)
    {
        Assert.Throws<ArgumentException>(() => DhcpDomainSearch.Encode([domain]));
    }

    [Fact]
    public void An_option_longer_than_255_bytes_is_split_into_chunks_and_reassembled()
    {
        var domains = Enumerable.Range(0, 30).Select(i => $"zone{i:D2}.example.internal").ToArray();
        var message = new DhcpMessage
        {
            Op = DhcpOpCode.BootReply,
            ClientHardwareAddress = GuestMac,
            MessageType = DhcpMessageType.Ack,
            DomainSearch = domains,
        };
        var encodedSearch = DhcpDomainSearch.Encode(domains);
        Assert.True(encodedSearch.Length > 2 * 255);

        var buffer = new byte[message.EncodedLength];
        int length = message.Emit(buffer);
        Assert.True(DhcpPacket.TryCreate(buffer.AsSpan(0, length), out var view, out _));
        var chunks = new List<int>();
        foreach (var option in view.Options)
        {
            if (option.Code == DhcpOptionCode.DomainSearch) chunks.Add(option.Data.Length);
        }

        Assert.Equal([255, 255, encodedSearch.Length - 510], chunks);
        Assert.True(DhcpMessage.TryParse(buffer, out var parsed, out _));
        Assert.Equal(domains, parsed!.DomainSearch);
    }

    [Fact]
    public void Emit_overwrites_every_byte_up_to_its_length_and_nothing_after()
    {
        var message = new DhcpMessage
        {
            Op = DhcpOpCode.BootReply,
            TransactionId = 7,
            YourAddress = new Ipv4Address(192, 168, 127, 2),
            ClientHardwareAddress = GuestMac,
            MessageType = DhcpMessageType.Offer,
            ServerIdentifier = new Ipv4Address(192, 168, 127, 1),
        };
        var buffer = new byte[1500];
        buffer.AsSpan().Fill(0xAA);
        int length = message.Emit(buffer);

        Assert.Equal(DhcpMessage.MinimumEncodedLength, length);
        Assert.Equal(length, message.EncodedLength);
        Assert.True(DhcpPacket.TryCreate(buffer.AsSpan(0, length), out var view, out _));
        Assert.All(buffer[(DhcpPacket.ClientHardwareAddressOffset + 6)..DhcpPacket.MagicCookieOffset], b => Assert.Equal(0, b));
        Assert.All(buffer[view.LengthThroughEnd..length], b => Assert.Equal(0, b));
        Assert.All(buffer[length..], b => Assert.Equal(0xAA, b));
    }

    [Fact]
    public void Emit_into_a_buffer_too_small_throws_instead_of_writing_a_partial_message()
    {
        var message = new DhcpMessage { MessageType = DhcpMessageType.Discover };
        Assert.Throws<ArgumentException>(() => message.Emit(new byte[299]));
    }

    [Fact]
    public void A_message_built_in_code_round_trips_through_the_wire()
    {
        var message = new DhcpMessage
        {
            Op = DhcpOpCode.BootReply,
            TransactionId = 0xdeadbeef,
            Flags = DhcpPacket.BroadcastFlagMask,
            ClientAddress = new Ipv4Address(10, 0, 0, 9),
            YourAddress = new Ipv4Address(10, 0, 0, 10),
            ClientHardwareAddress = GuestMac,
            MessageType = DhcpMessageType.Ack,
            ServerIdentifier = new Ipv4Address(10, 0, 0, 1),
            LeaseTimeSeconds = 3600,
            RenewalTimeSeconds = 1800,
            RebindingTimeSeconds = 3150,
            SubnetMask = new Ipv4Address(255, 255, 255, 0),
            Routers = [new Ipv4Address(10, 0, 0, 1)],
            DnsServers = [new Ipv4Address(10, 0, 0, 1), new Ipv4Address(10, 0, 0, 2)],
            InterfaceMtu = 1500,
            DomainSearch = ["example.com"],
            Message = "ok",
            OtherOptions = [new DhcpOption(42, new byte[] { 1, 2, 3, 4 })],
        };
        var buffer = new byte[message.EncodedLength];
        message.Emit(buffer);
        Assert.True(DhcpMessage.TryParse(buffer, out var parsed, out _));
        Assert.True(parsed!.BroadcastFlag);
        Assert.Equal(message.LeaseTimeSeconds, parsed.LeaseTimeSeconds);
        Assert.Equal(message.RenewalTimeSeconds, parsed.RenewalTimeSeconds);
        Assert.Equal(message.RebindingTimeSeconds, parsed.RebindingTimeSeconds);
        Assert.Equal(message.SubnetMask, parsed.SubnetMask);
        Assert.Equal(message.Routers, parsed.Routers);
        Assert.Equal(message.DnsServers, parsed.DnsServers);
        Assert.Equal(message.InterfaceMtu, parsed.InterfaceMtu);
        Assert.Equal(message.DomainSearch, parsed.DomainSearch);
        Assert.Equal(message.Message, parsed.Message);
        Assert.Equal(message.ClientAddress, parsed.ClientAddress);
        Assert.Equal(message.YourAddress, parsed.YourAddress);
        Assert.Equal([1, 2, 3, 4], Assert.Single(parsed.OtherOptions).Data.ToArray());

        var again = new byte[parsed.EncodedLength];
        parsed.Emit(again);
        Assert.Equal(buffer, again);
    }

    [Property(MaxTest = 300)]
    public Property Any_request_round_trips_through_emit_and_parse(
        uint xid, ushort seconds, ushort flags, uint ciaddr, uint requested, byte typeIndex, NonEmptyArray<byte> clientId, NonEmptyString hostName)
    {
        var clientIdBytes = clientId.Get.Length >= 2 ? clientId.Get : [1, .. clientId.Get];
        var type = (DhcpMessageType)(typeIndex % 8 + 1);
        var message = new DhcpMessage
        {
            TransactionId = xid,
            Seconds = seconds,
            Flags = flags,
            ClientAddress = new Ipv4Address(ciaddr),
            ClientHardwareAddress = new MacAddress(((ulong)xid << 16 | seconds) & 0xFEFF_FFFF_FFFFUL),
            MessageType = type,
            RequestedAddress = new Ipv4Address(requested),
            ClientIdentifier = clientIdBytes,
            HostName = hostName.Get,
        };

        var buffer = new byte[message.EncodedLength];
        int length = message.Emit(buffer);
        bool parsed = DhcpMessage.TryParse(buffer.AsSpan(0, length), out var back, out _);
        var again = parsed ? new byte[back!.EncodedLength] : [];
        if (parsed) back!.Emit(again);

        return (parsed
                && back!.TransactionId == xid
                && back.Seconds == seconds
                && back.Flags == flags
                && back.ClientAddress == message.ClientAddress
                && back.ClientHardwareAddress == message.ClientHardwareAddress
                && back.MessageType == type
                && back.RequestedAddress == message.RequestedAddress
                && back.ClientIdentifier!.SequenceEqual(clientIdBytes)
                && again.AsSpan().SequenceEqual(buffer))
            .Label($"xid={xid} type={type} host={hostName.Get.Length} chars");
    }

    [Property(MaxTest = 500)]
    public bool Arbitrary_bytes_after_a_valid_header_never_throw(byte[] options)
    {
        var bytes = new byte[DhcpPacket.OptionsOffset + (options?.Length ?? 0)];
        UdhcpcDiscover.AsSpan(0, DhcpPacket.OptionsOffset).CopyTo(bytes);
        options?.CopyTo(bytes, DhcpPacket.OptionsOffset);
        bool ok = DhcpMessage.TryParse(bytes, out var message, out var reason);
        return ok ? message is not null && reason == DropReason.None : message is null && reason != DropReason.None;
    }
}
