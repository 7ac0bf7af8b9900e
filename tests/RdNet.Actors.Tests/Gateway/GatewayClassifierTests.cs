using System.Buffers.Binary;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Gateway;

/// <summary>
/// The gateway's one classifier: for every kind of frame, the fast path's answer (<see cref="GatewayCore.ClassifyTcp"/>)
/// and <see cref="GatewayCore.Process"/> agree — the same frames go to the TCP service, and a refusal names the very
/// reason <see cref="GatewayCore.Process"/> counts.
/// </summary>
public sealed class GatewayClassifierTests
{
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("10.1.2.3");
    private static readonly VirtualNetwork Net = VirtualNetwork.Parse("192.168.127.0/24");

    private sealed class Discard : IFrameSink
    {
        public void Deliver(FrameBuffer frame) => frame.Release();
    }

    private static byte[] Segment(MacAddress dstMac) =>
        TcpFrame(GuestMac, dstMac, Guest, Remote, 40000, 80, TcpFlags.Ack, [1, 2, 3]);

    private static byte[] Fragment()
    {
        var f = Segment(GatewayMac);
        var ip = f.AsSpan(EthernetFrame.HeaderLength, 20);
        ip[6] = 0x20; // more fragments
        ip[10] = ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip));
        return f;
    }

    public static TheoryData<string> Frames => new(Cases.Keys);

    private static readonly Dictionary<string, byte[]> Cases = new()
    {
        ["valid segment"] = Segment(GatewayMac),
        ["bad checksum"] = Corrupt(Segment(GatewayMac)),
        ["segment by link broadcast"] = Segment(MacAddress.Broadcast),
        ["segment to another MAC"] = Segment(GuestMac),
        ["fragment"] = Fragment(),
        ["truncated segment"] = Segment(GatewayMac)[..(EthernetFrame.HeaderLength + 20 + 10)],
        ["udp"] = Udp(GuestMac, GatewayMac, Guest, Remote, 40000, 53, [1]),
        ["arp"] = ArpRequest(GuestMac, Guest, GuestFrames.Gateway),
        ["runt"] = new byte[10],
    };

    private static byte[] Corrupt(byte[] f)
    {
        f[^1] ^= 0xFF;
        return f;
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void The_fast_path_and_Process_agree(string name)
    {
        foreach (var withTcp in new[] { true, false })
        {
            var pool = new FramePool(16, 2000);
            GatewayService[] services = withTcp ? [GatewayService.Tcp, GatewayService.Udp] : [GatewayService.Udp];
            var core = GatewayRig.Core(Net, pool, services);
            var frame = Cases[name];

            var kind = core.ClassifyTcp(frame, out var refused, out var src, out var sport, out var dst, out var dport);
            var service = core.Process(frame, DateTimeOffset.UnixEpoch, new Discard());
            var counted = core.Drops.Snapshot();

            Assert.Equal(kind == GatewayFrameClass.Tcp, service == GatewayService.Tcp);
            if (kind == GatewayFrameClass.Refused)
                Assert.Equal(new Dictionary<DropReason, long> { [refused] = 1 }, counted);
            else
                Assert.Equal(DropReason.None, refused);
            if (kind == GatewayFrameClass.Tcp)
                Assert.Equal((Guest, (ushort)40000, Remote, (ushort)80), (src, sport, dst, dport));
        }
    }

    [Fact]
    public void A_segment_that_arrived_by_link_broadcast_is_refused_by_both()
    {
        var core = GatewayRig.Core(Net, new FramePool(16, 2000), [GatewayService.Tcp]);
        var frame = Segment(MacAddress.Broadcast);
        Assert.Equal(GatewayFrameClass.Refused, core.ClassifyTcp(frame, out var refused, out _, out _, out _, out _));
        Assert.Equal(DropReason.TcpLinkBroadcast, refused);
        Assert.Equal(GatewayService.None, core.Process(frame, DateTimeOffset.UnixEpoch, new Discard()));
        Assert.Equal(1, core.Drops[DropReason.TcpLinkBroadcast]);
    }
}
