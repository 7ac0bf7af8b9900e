using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using RdNet.Transport.Tests.Linux;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Links;

/// <summary>The tap reader at its frame limit: frames the kernel sends through a real tap in a namespace of its own.</summary>
public sealed class TapLinkLimitTests(NetworkNamespaceFixture ns) : IClassFixture<NetworkNamespaceFixture>
{
    private const int Limit = 9014; // MTU 9000
    private const ushort Port = 9999;
    private const int UdpOverhead = EthernetFrame.HeaderLength + 20 + 8;

    private sealed class UdpFrames : IFrameSink
    {
        public readonly List<(int Length, int Capacity)> Frames = [];

        public void Deliver(FrameBuffer frame)
        {
            var f = frame.Span;
            // IPv4, UDP, to our port: skip the IPv6 and ARP chatter of a fresh interface.
            if (f.Length >= UdpOverhead && BinaryPrimitives.ReadUInt16BigEndian(f[12..]) == 0x0800 && f[23] == 17
                && BinaryPrimitives.ReadUInt16BigEndian(f[36..]) == Port)
            {
                lock (Frames) Frames.Add((frame.Length, frame.Capacity));
            }
            frame.Release();
        }
    }

    [Fact]
    public async Task A_frame_of_exactly_the_limit_is_read_and_one_byte_more_is_a_counted_drop_never_a_truncated_frame()
    {
        var tap = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("taplim0");
            NetInterface.SetMtu("taplim0", 9100);
            NetInterface.SetAddress("taplim0", Ipv4Address.Parse("10.98.0.1"), 24);
            NetInterface.SetUp("taplim0");
            return t;
        });
        var pool = new FramePool(64, Limit);
        using var link = new TapLink(tap, pool, new LinkOptions(MaxFrameLength: Limit));
        var sink = new UdpFrames();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = link.RunAsync(sink, cts.Token);

        using var socket = NetNamespace.RunIn(ns.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.EnableBroadcast = true;
        socket.Bind(new IPEndPoint(IPAddress.Parse("10.98.0.1"), 0));
        var to = new IPEndPoint(IPAddress.Parse("10.98.0.255"), Port); // broadcast: no ARP needed
        socket.SendTo(new byte[Limit - UdpOverhead], to);
        socket.SendTo(new byte[Limit + 1 - UdpOverhead], to);
        socket.SendTo(new byte[100], to);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (sink.Frames) if (sink.Frames.Count >= 2) break;
            await Task.Delay(20);
        }
        await cts.CancelAsync();
        await run;

        Assert.Equal([(Limit, Limit), (UdpOverhead + 100, 2048)], sink.Frames);
        Assert.Equal(1, link.Stats.Drops[DropReason.FrameLengthTooLarge]);
        Assert.Equal(0, pool.Outstanding);
    }
}
