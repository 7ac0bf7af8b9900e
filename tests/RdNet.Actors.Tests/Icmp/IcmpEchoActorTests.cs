using System.Net.Sockets;
using System.Threading.Channels;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Icmp;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Icmp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Icmp;

/// <summary>
/// ICMP echo forwarding against a scripted host socket (the real unprivileged socket is exercised end to end): the
/// guest gets a reply only when the destination answered, built from its own request; rate limit, policy, errors.
/// </summary>
public sealed class IcmpEchoActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private static readonly Ipv4Address Target = Ipv4Address.Parse("10.99.1.1");
    private static readonly Ipv4Address HostAlias = Ipv4Address.Parse("192.168.127.254");
    private readonly FramePool _pool = new(64, 4000);
    private readonly VirtualNetwork _net = VirtualNetwork.Parse("192.168.127.0/24");
    private readonly EgressPolicy _egress = new([Ipv4Cidr.Parse("127.0.0.0/8"), Ipv4Cidr.Parse("10.99.0.0/16")], []);
    private readonly FrameCollector _guest = new();
    private readonly ScriptedEchoSocket _host = new();

    /// <summary>Records what would be sent and lets the test decide which replies arrive.</summary>
    private sealed class ScriptedEchoSocket : IHostEchoSocket
    {
        private readonly Channel<HostEchoReply?> _replies = Channel.CreateUnbounded<HostEchoReply?>();
        public readonly Channel<(Ipv4Address To, ushort Sequence, byte[] Data)> Sent = Channel.CreateUnbounded<(Ipv4Address, ushort, byte[])>();
        public bool Disposed { get; private set; }

        public SocketError Send(Ipv4Address destination, ushort sequence, ReadOnlySpan<byte> data)
        {
            Sent.Writer.TryWrite((destination, sequence, data.ToArray()));
            return SocketError.Success;
        }

        public ValueTask<HostEchoReply?> ReceiveAsync(CancellationToken cancellationToken) => _replies.Reader.ReadAsync(cancellationToken);

        public void Answer(Ipv4Address from, ushort sequence) => _replies.Writer.TryWrite(new HostEchoReply(from, sequence));

        public (Ipv4Address To, ushort Sequence, byte[] Data) NextSent()
        {
            using var cts = new CancellationTokenSource(Wait);
            return Sent.Reader.ReadAsync(cts.Token).AsTask().GetAwaiter().GetResult();
        }

        public void Dispose() => Disposed = true;
    }

    protected override void Dispose(bool disposing)
    {
        _guest.Dispose();
        base.Dispose(disposing);
    }

    private IActorRef Echo(int burst = 100, TimeSpan? timeout = null) =>
        Sys.ActorOf(IcmpEchoActor.Props(_net, _egress, _guest, _pool, new DropCounters(), new IcmpEchoSettings(timeout ?? TimeSpan.FromSeconds(5), 64, 1, burst),
            () => (_host, null)));

    private void Send(IActorRef actor, byte[] frame)
    {
        var b = _pool.TryRent()!;
        frame.CopyTo(b.Array, 0);
        b.SetLength(frame.Length);
        actor.Tell(b);
    }

    private IcmpEchoActor.IcmpEchoStats Stats(IActorRef actor)
    {
        actor.Tell(IcmpEchoActor.GetStats.Instance, TestActor);
        return ExpectMsg<IcmpEchoActor.IcmpEchoStats>(Wait);
    }

    [Fact]
    public void The_guest_gets_a_reply_only_once_the_destination_answered_with_its_own_identifier_sequence_and_data()
    {
        var echo = Echo();
        byte[] data = [1, 2, 3, 4, 5, 6, 7]; // odd length
        Send(echo, EchoRequest(Target, 0x1234, 7, data));
        var sent = _host.NextSent();
        Assert.Equal(Target, sent.To);
        Assert.Equal(data, sent.Data);
        Assert.Null(_guest.Receive(Quiet)); // no answer yet, no reply

        _host.Answer(Target, sent.Sequence);
        var frame = _guest.Receive(Wait);
        Assert.NotNull(frame);
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.Equal(GuestMac, eth.Destination);
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(Target, ip.Source);
        Assert.Equal(Guest, ip.Destination);
        Assert.True(IcmpPacket.TryCreate(ip.Payload, out var icmp, out var r), r.ToString());
        Assert.Equal(IcmpType.EchoReply, icmp.Type);
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(7, icmp.SequenceNumber);
        Assert.Equal(data, icmp.Data.ToArray());

        // The same answer again matches nothing: no second reply.
        _host.Answer(Target, sent.Sequence);
        Assert.Null(_guest.Receive(Quiet));
        var s = Stats(echo);
        Assert.Equal(1, s.Answered);
        Assert.Equal(1, s.Drops.GetValueOrDefault(DropReason.IcmpStrayReply));
        AwaitCondition(() => _pool.Outstanding == 0, Wait);
    }

    [Fact]
    public void A_reply_from_another_address_than_the_one_pinged_is_not_an_answer()
    {
        var echo = Echo();
        Send(echo, EchoRequest(Target, 1, 1, [9]));
        var sent = _host.NextSent();
        _host.Answer(Ipv4Address.Parse("10.99.1.2"), sent.Sequence);
        Assert.Null(_guest.Receive(Quiet));
        Assert.Equal(1, Stats(echo).Drops.GetValueOrDefault(DropReason.IcmpStrayReply));
    }

    [Fact]
    public void The_host_alias_is_pinged_as_127_0_0_1_and_answered_from_the_host_alias()
    {
        var echo = Echo();
        Send(echo, EchoRequest(HostAlias, 5, 6, [1, 2]));
        var sent = _host.NextSent();
        Assert.Equal(Ipv4Address.Loopback, sent.To);
        _host.Answer(Ipv4Address.Loopback, sent.Sequence);
        var frame = _guest.Receive(Wait);
        Assert.NotNull(frame);
        Assert.True(EthernetFrame.TryCreate(frame, out var eth, out _));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip, out _));
        Assert.Equal(HostAlias, ip.Source);
    }

    [Fact]
    public void Unanswered_requests_are_forgotten_after_the_echo_timeout()
    {
        var echo = Echo(timeout: TimeSpan.FromMilliseconds(200));
        Send(echo, EchoRequest(Target, 1, 1, [1]));
        var sent = _host.NextSent();
        AwaitAssert(() => Assert.Equal(0, Stats(echo).Pending), Wait);
        _host.Answer(Target, sent.Sequence); // too late
        Assert.Null(_guest.Receive(Quiet));
    }

    [Fact]
    public void Requests_beyond_the_rate_limit_are_counted_drops()
    {
        var echo = Echo(burst: 3);
        for (ushort i = 0; i < 6; i++) Send(echo, EchoRequest(Target, 1, i, [1]));
        AwaitAssert(() =>
        {
            var s = Stats(echo);
            Assert.Equal(3, s.Forwarded);
            Assert.Equal(3, s.Drops.GetValueOrDefault(DropReason.IcmpRateLimited));
        }, Wait);
    }

    [Fact]
    public void Policy_refusals_errors_and_other_types_are_counted_and_never_answered()
    {
        var echo = Echo();
        Send(echo, EchoRequest(Ipv4Address.Parse("169.254.169.254"), 1, 1, [1]));
        Send(echo, EchoRequest(Ipv4Address.Parse("8.8.8.8"), 1, 2, [1]));
        Send(echo, EchoRequest(Ipv4Address.Parse("224.0.0.1"), 1, 3, [1]));
        // An ICMP error from the guest (port unreachable quoting something): no error is ever sent about an error.
        var error = new byte[8 + 28];
        error[0] = IcmpType.DestinationUnreachable;
        error[1] = 3;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(error.AsSpan(2), InternetChecksum.Compute(error));
        Send(echo, Ipv4(GuestMac, GatewayMac, Guest, Target, IpProtocol.Icmp, error));
        AwaitAssert(() =>
        {
            var s = Stats(echo);
            Assert.Equal(2, s.Drops.GetValueOrDefault(DropReason.EgressNotAllowed)); // 169.254.169.254 is not allowed, nor 8.8.8.8
            Assert.Equal(1, s.Drops.GetValueOrDefault(DropReason.EgressMartian));
            Assert.Equal(1, s.Drops.GetValueOrDefault(DropReason.IcmpUnsupportedType));
            Assert.Equal(0, s.Forwarded);
        }, Wait);
        Assert.False(_host.Sent.Reader.TryRead(out _));
        Assert.Null(_guest.Receive(Quiet));
        Assert.Equal(0, _pool.Outstanding);
    }

    [Fact]
    public void Without_permission_for_unprivileged_icmp_it_says_so_once_and_answers_nothing()
    {
        IActorRef echo = ActorRefs.Nobody;
        EventFilter.Warning(contains: "ping_group_range").ExpectOne(() =>
        {
            echo = Sys.ActorOf(IcmpEchoActor.Props(_net, _egress, _guest, _pool, new DropCounters(), new IcmpEchoSettings(TimeSpan.FromSeconds(5), 64, 100, 100),
                () => (null, "not permitted; net.ipv4.ping_group_range is \"1 0\"")));
            Send(echo, EchoRequest(Target, 1, 1, [1]));
            Send(echo, EchoRequest(HostAlias, 1, 2, [1]));
        });
        AwaitAssert(() =>
        {
            var s = Stats(echo);
            Assert.False(s.Available);
            Assert.Equal(2, s.Drops.GetValueOrDefault(DropReason.IcmpEchoUnavailable));
        }, Wait);
        Assert.Null(_guest.Receive(Quiet));
        Assert.Equal(0, _pool.Outstanding);
    }

    [Fact]
    public void Stopping_closes_the_host_socket()
    {
        var echo = Echo();
        Watch(echo);
        Sys.Stop(echo);
        ExpectTerminated(echo, Wait);
        Assert.True(_host.Disposed);
    }
}
