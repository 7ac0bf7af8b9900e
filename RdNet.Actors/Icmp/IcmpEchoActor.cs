using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Icmp;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Icmp;

/// <summary>Bounds of ICMP echo forwarding, from <c>rdnet.icmp</c> in hocon/.</summary>
/// <param name="EchoTimeout">How long a forwarded request waits for its reply (then the guest simply gets none).</param>
/// <param name="MaxPending">Requests waiting for a reply at once; more are counted drops.</param>
/// <param name="Rate">Echo requests forwarded per second (token bucket refill).</param>
/// <param name="Burst">Echo requests that may be forwarded back to back.</param>
public sealed record IcmpEchoSettings(TimeSpan EchoTimeout, int MaxPending, double Rate, int Burst)
{
    public static IcmpEchoSettings FromConfig(Config config)
    {
        var c = config.GetConfig("rdnet.icmp") ?? throw new ConfigurationException("the 'rdnet.icmp' section is missing from hocon/");
        var s = new IcmpEchoSettings(c.GetTimeSpan("echo-timeout"), c.GetInt("max-pending"), c.GetDouble("rate"), c.GetInt("burst"));
        if (s.EchoTimeout <= TimeSpan.Zero) throw new ConfigurationException("rdnet.icmp.echo-timeout must be a positive duration such as 5s");
        if (s.MaxPending is < 1 or > ushort.MaxValue) throw new ConfigurationException("rdnet.icmp.max-pending must be an integer from 1 to 65535");
        if (s.Rate <= 0 || s.Burst < 1) throw new ConfigurationException("rdnet.icmp.rate must be positive and rdnet.icmp.burst at least 1");
        return s;
    }
}

/// <summary>
/// The gateway's ICMP service (<see cref="GatewayService.Icmp"/>): echo requests to addresses other than .1 are
/// really sent from the host — unprivileged ICMP datagram socket on Linux, raw socket on Windows — and the guest
/// gets an echo reply only when the real destination answered (spec §8 row 13: the original answered every ping
/// itself). The reply is built from the parsed request (identifier, sequence, data), from the address the guest
/// pinged; .254 is answered by pinging 127.0.0.1 (egress policy). Requests are rate-limited and bounded in number;
/// nothing is ever sent to the guest but echo replies, so no error is ever sent about an error (RFC 1122 §3.2.2).
/// When the host does not permit unprivileged ICMP, that is logged once and requests are counted drops.
/// </summary>
public sealed class IcmpEchoActor : ReceiveActor, IWithTimers
{
    private readonly VirtualNetwork _network;
    private readonly EgressPolicy _egress;
    private readonly IFrameSink _sink;
    private readonly FramePool _pool;
    private readonly DropCounters _drops;
    private readonly IcmpEchoSettings _settings;
    private readonly Func<(IHostEchoSocket? Socket, string? Error)> _open;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stop = new();
    private IHostEchoSocket? _socket;
    private ushort _ipId;
    private long _forwarded, _answered;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record ReplyReceived(HostEchoReply? Reply) : IDeadLetterSuppression;

    private sealed record ReceiveFailed(Exception Cause) : IDeadLetterSuppression;

    private sealed record Expire
    {
        public static readonly Expire Instance = new();
    }

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    /// <param name="Available">False when the host does not permit the ICMP socket.</param>
    /// <param name="Forwarded">Echo requests sent from the host.</param>
    /// <param name="Answered">Echo replies delivered to the guest.</param>
    /// <param name="Pending">Requests waiting for a reply.</param>
    public sealed record IcmpEchoStats(bool Available, long Forwarded, long Answered, int Pending, IReadOnlyDictionary<DropReason, long> Drops);

    public IcmpEchoActor(VirtualNetwork network, EgressPolicy egress, IFrameSink sink, FramePool pool, DropCounters drops,
        IcmpEchoSettings settings, Func<(IHostEchoSocket? Socket, string? Error)>? open)
    {
        _network = network;
        _egress = egress;
        _sink = sink;
        _pool = pool;
        _drops = drops;
        _settings = settings;
        _open = open ?? (() => HostEchoSocket.TryOpen(out var s, out var e) ? (s, null) : (null, e));
    }

    private DateTimeOffset Now => Context.System.Scheduler.Now;

    protected override void PreStart()
    {
        var (socket, error) = _open();
        if (socket is null)
        {
            // Said once, here; every request afterwards is a counted drop, never a fake reply.
            _log.Warning("ICMP echo forwarding is off: {Reason}. Pings to addresses other than the gateway get no reply.", error);
            Become(Unavailable);
            return;
        }
        _socket = socket;
        var pending = new EchoTable(_settings.MaxPending, _settings.EchoTimeout);
        var bucket = new TokenBucket(_settings.Rate, _settings.Burst, Now);
        Become(() => Available(pending, bucket));
        Timers.StartPeriodicTimer("expire", Expire.Instance, TimeSpan.FromTicks(Math.Max(_settings.EchoTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10)));
        ReceiveNext();
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _socket?.Dispose();
        _stop.Dispose();
    }

    private void Unavailable()
    {
        Receive<FrameBuffer>(f =>
        {
            _drops.Increment(DropReason.IcmpEchoUnavailable);
            f.Release();
        });
        Receive<GetStats>(_ => Sender.Tell(new IcmpEchoStats(false, 0, 0, 0, _drops.Snapshot())));
    }

    private void Available(EchoTable pending, TokenBucket bucket)
    {
        Receive<FrameBuffer>(f =>
        {
            try
            {
                OnRequest(f.Span, pending, bucket);
            }
            finally
            {
                f.Release();
            }
        });
        Receive<ReplyReceived>(r =>
        {
            if (r.Reply is { } reply) OnReply(reply, pending);
            ReceiveNext();
        });
        Receive<ReceiveFailed>(f =>
        {
            if (_stop.IsCancellationRequested) return;
            // ICMP errors about our own requests may surface as socket errors; they are not replies. Keep listening.
            if (f.Cause is SocketException or AggregateException { InnerException: SocketException })
            {
                ReceiveNext();
                return;
            }
            throw new IOException("the host ICMP socket failed", f.Cause);
        });
        Receive<Expire>(_ => pending.Expire(Now));
        Receive<GetStats>(_ => Sender.Tell(new IcmpEchoStats(true, _forwarded, _answered, pending.Count, _drops.Snapshot())));
    }

    private void OnRequest(ReadOnlySpan<byte> frame, EchoTable pending, TokenBucket bucket)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth, out var reason)
            || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out reason)
            || !IcmpPacket.TryCreate(ip.Payload, out var icmp, out reason))
        {
            _drops.Increment(reason);
            return;
        }
        if (ip.IsFragment)
        {
            _drops.Increment(DropReason.Ipv4Fragment);
            return;
        }
        // Only echo requests are forwarded: anything else (errors included) is never answered.
        if (icmp.Type != IcmpType.EchoRequest || icmp.Code != 0)
        {
            _drops.Increment(DropReason.IcmpUnsupportedType);
            return;
        }
        var source = ip.Source;
        if (!_network.IsGuestAddress(source))
        {
            _drops.Increment(DropReason.Ipv4BadSource);
            return;
        }
        if (!_egress.TryResolve(ip.Destination, _network, out var host, out reason))
        {
            _drops.Increment(reason);
            return;
        }
        var now = Now;
        if (!bucket.TryTake(now))
        {
            _drops.Increment(DropReason.IcmpRateLimited);
            return;
        }
        var echo = new PendingEcho(eth.Source, source, ip.Destination, host, icmp.Identifier, icmp.SequenceNumber, icmp.Data.ToArray());
        // A reply must fit one frame at the MTU; a request that large could not have come in one frame anyway.
        if (EchoFrames.ReplyLength(echo) > _pool.BufferSize)
        {
            _drops.Increment(DropReason.FrameLengthTooLarge);
            return;
        }
        if (!pending.TryAdd(echo, now, out var sequence))
        {
            _drops.Increment(DropReason.IcmpEchoTableFull);
            return;
        }
        var error = _socket!.Send(host, sequence, echo.Data);
        if (error != SocketError.Success)
        {
            pending.TryComplete(sequence, host, out _);
            _drops.Increment(DropReason.IcmpEchoSendFailed);
            return;
        }
        _forwarded++;
    }

    private void OnReply(HostEchoReply reply, EchoTable pending)
    {
        if (!pending.TryComplete(reply.Sequence, reply.From, out var echo))
        {
            _drops.Increment(DropReason.IcmpStrayReply);
            return;
        }
        var frame = _pool.TryRent(EchoFrames.ReplyLength(echo));
        if (frame is null)
        {
            _drops.Increment(DropReason.FramePoolExhausted);
            return;
        }
        frame.SetLength(EchoFrames.WriteReply(frame.Array, _network.GatewayMac, echo, _ipId++));
        _answered++;
        _sink.Deliver(frame);
    }

    private void ReceiveNext()
    {
        _socket!.ReceiveAsync(_stop.Token).AsTask()
            .PipeTo(Self, success: r => new ReplyReceived(r), failure: e => new ReceiveFailed(e));
    }

    // The socket is opened again on restart; pending requests are forgotten (the guest's ping times out).
    public static Props Props(VirtualNetwork network, EgressPolicy egress, IFrameSink sink, FramePool pool, DropCounters drops,
        IcmpEchoSettings settings, Func<(IHostEchoSocket? Socket, string? Error)>? open = null) =>
        Akka.Actor.Props.Create(() => new IcmpEchoActor(network, egress, sink, pool, drops, settings, open));
}
