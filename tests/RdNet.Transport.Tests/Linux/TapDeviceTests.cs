using System.Buffers.Binary;
using System.Diagnostics;
using RdNet.Transport.Linux;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Linux;

public sealed class TapDeviceTests(NetworkNamespaceFixture ns) : IClassFixture<NetworkNamespaceFixture>
{
    // Ethernet II header, then the ARP packet for Ethernet/IPv4 (RFC 826).
    private const int EthDestination = 0, EthSource = 6, EthType = 12, EthHeaderLength = 14;
    private const ushort EtherTypeArp = 0x0806, EtherTypeIpv4 = 0x0800;
    private const int ArpHardwareType = EthHeaderLength + 0, ArpProtocolType = EthHeaderLength + 2,
        ArpHardwareLength = EthHeaderLength + 4, ArpProtocolLength = EthHeaderLength + 5, ArpOperation = EthHeaderLength + 6,
        ArpSenderMac = EthHeaderLength + 8, ArpSenderIp = EthHeaderLength + 14,
        ArpTargetMac = EthHeaderLength + 18, ArpTargetIp = EthHeaderLength + 24, ArpFrameLength = EthHeaderLength + 28;
    private const ushort ArpRequest = 1, ArpReply = 2;

    [Fact]
    public void The_kernel_answers_an_ARP_request_written_to_the_tap_with_a_reply_read_from_it()
    {
        var tapIp = Ipv4Address.Parse("10.99.0.1");
        var peerIp = Ipv4Address.Parse("10.99.0.2");
        var peerMac = MacAddress.Parse("02:00:00:00:99:02");
        var (tap, tapMac) = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("taparp0");
            NetInterface.SetAddress("taparp0", tapIp, 24);
            NetInterface.SetUp("taparp0");
            return (t, NetInterface.GetMacAddress("taparp0"));
        });
        using var _ = tap;

        var request = new byte[ArpFrameLength];
        MacAddress.Broadcast.Write(request.AsSpan(EthDestination));
        peerMac.Write(request.AsSpan(EthSource));
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(EthType), EtherTypeArp);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(ArpHardwareType), 1);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(ArpProtocolType), EtherTypeIpv4);
        request[ArpHardwareLength] = 6;
        request[ArpProtocolLength] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(ArpOperation), ArpRequest);
        peerMac.Write(request.AsSpan(ArpSenderMac));
        peerIp.Write(request.AsSpan(ArpSenderIp));
        tapIp.Write(request.AsSpan(ArpTargetIp));

        Assert.True(tap.WaitWritable(1000));
        Assert.True(tap.Write(request));

        // The link also carries IPv6 router solicitations and MLD reports; skip them.
        var buffer = new byte[65536];
        var reply = ReadUntil(tap, buffer, f => f.Length >= ArpFrameLength
            && BinaryPrimitives.ReadUInt16BigEndian(f[EthType..]) == EtherTypeArp
            && BinaryPrimitives.ReadUInt16BigEndian(f[ArpOperation..]) == ArpReply);

        Assert.Equal(peerMac, MacAddress.Read(reply[EthDestination..]));
        Assert.Equal(tapMac, MacAddress.Read(reply[EthSource..]));
        Assert.Equal(ArpReply, BinaryPrimitives.ReadUInt16BigEndian(reply[ArpOperation..]));
        Assert.Equal(tapMac, MacAddress.Read(reply[ArpSenderMac..]));
        Assert.Equal(tapIp, Ipv4Address.Read(reply[ArpSenderIp..]));
        Assert.Equal(peerMac, MacAddress.Read(reply[ArpTargetMac..]));
        Assert.Equal(peerIp, Ipv4Address.Read(reply[ArpTargetIp..]));
    }

    [Fact]
    public void Read_returns_zero_when_no_frame_is_queued()
    {
        using var tap = NetNamespace.RunIn(ns.Name, () => TapDevice.Create("tapidle0"));

        Assert.False(tap.WaitReadable(50));
        Assert.Equal(0, tap.Read(new byte[2048]));
    }

    [Fact]
    public void A_name_longer_than_15_bytes_is_rejected_with_an_ArgumentException_that_names_the_limit()
    {
        var e = Assert.Throws<ArgumentException>(() => TapDevice.Create("rdnet-tap-name-16"));

        Assert.Equal("name", e.ParamName);
        Assert.Contains("at most 15", e.Message);
        Assert.Contains("rdnet-tap-name-16", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("a:b")]
    [InlineData("..")]
    public void A_name_the_kernel_would_refuse_is_rejected_with_an_ArgumentException(string name)
    {
        Assert.Throws<ArgumentException>(() => TapDevice.Create(name));
    }

    [Fact]
    public void Disposing_twice_is_safe_and_removes_the_interface()
    {
        var stillThere = NetNamespace.RunIn(ns.Name, () =>
        {
            var tap = TapDevice.Create("tapdisp0");
            tap.Dispose();
            tap.Dispose();
            return NetInterface.Exists("tapdisp0");
        });

        Assert.False(stillThere);
    }

    [Fact]
    public void Disposing_during_a_wait_lets_the_wait_finish_and_later_calls_throw_ObjectDisposedException()
    {
        var tap = NetNamespace.RunIn(ns.Name, () => TapDevice.Create("tapdisp1"));
        var waiting = new Thread(() => tap.WaitReadable(300)) { IsBackground = true };
        waiting.Start();
        Thread.Sleep(50);

        tap.Dispose();
        Assert.True(waiting.Join(5000));

        Assert.Throws<ObjectDisposedException>(() => tap.Read(new byte[2048]));
        Assert.Throws<ObjectDisposedException>(() => tap.WaitReadable(0));
        Assert.False(NetNamespace.RunIn(ns.Name, () => NetInterface.Exists("tapdisp1")));
    }

    [Fact]
    public void Creating_a_tap_whose_name_is_taken_fails_naming_TUNSETIFF()
    {
        var e = Assert.Throws<LinuxNetworkException>(() => NetNamespace.RunIn(ns.Name, () =>
        {
            using var first = TapDevice.Create("tapdup0");
            using var second = TapDevice.Create("tapdup0");
        }));

        Assert.StartsWith("TUNSETIFF on tapdup0: ", e.Message);
    }

    private static ReadOnlySpan<byte> ReadUntil(TapDevice tap, byte[] buffer, FrameFilter wanted)
    {
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 5000)
        {
            if (!tap.WaitReadable(100)) continue;
            var n = tap.Read(buffer);
            if (n > 0 && wanted(buffer.AsSpan(0, n))) return buffer.AsSpan(0, n);
        }
        Assert.Fail("no matching frame arrived within 5 s");
        return default;
    }

    private delegate bool FrameFilter(ReadOnlySpan<byte> frame);
}
