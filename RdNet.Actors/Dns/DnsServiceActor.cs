using Akka.Actor;
using RdNet.Actors.Infrastructure;
using Akka.Event;
using RdNet.Actors.Gateway;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;
using static RdNet.Actors.Dns.DnsProtocol;

namespace RdNet.Actors.Dns;

/// <summary>
/// The gateway's DNS service (<see cref="GatewayService.Dns"/>): a thin shell over <see cref="DnsServer"/>.
/// UDP queries arrive as the frames the gateway delegates; local names are answered here at once, everything else
/// goes to one short-lived <see cref="DnsQueryActor"/> per query (bounded; beyond the bound a SERVFAIL, counted).
/// DNS over TCP arrives as <see cref="GatewayProtocol.LocalStreamAccepted"/> sockets, each served by a
/// <see cref="DnsTcpConnectionActor"/> child that asks this actor with <see cref="Resolve"/>. A child that throws
/// is stopped (its query gets SERVFAIL); nothing else is touched.
/// </summary>
public sealed class DnsServiceActor : GuestFrameActor
{
    private const int FrameHeaders = EthernetFrame.HeaderLength + Ipv4Header.Length + UdpHeader.Length;
    private const ushort DnsPort = 53;
    private const byte Ttl = 64;

    private readonly DnsServer _core;
    private readonly IDnsUpstream _upstream;
    private readonly DnsSettings _settings;
    private readonly IFrameSink _sink;
    private readonly FramePool _pool;
    private readonly VirtualNetwork _network;
    private readonly Func<byte[], Props> _queryProps;
    private readonly Dictionary<IActorRef, Pending> _pending = [];
    private readonly HashSet<IActorRef> _connections = [];
    private readonly byte[] _tcpScratch = new byte[DnsServer.TcpLimit];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ushort _ipId;
    private long _serverFailures;
    private readonly LatencyWindow _latency;
    // One notice per limit: a flood against one must not silence the first notice of the other.
    private readonly LimitNotice _queryLimitNotice = NewLimitNotice();
    private readonly LimitNotice _tcpLimitNotice = NewLimitNotice();

    /// <summary>Where a query came from, to send its answer back.</summary>
    private abstract record Client;

    private sealed record UdpClient(MacAddress Mac, Ipv4Address Address, ushort Port) : Client;

    private sealed record TcpClient(IActorRef Connection, long Tag) : Client;

    /// <param name="Started">Stopwatch timestamp of the forward, for the latency percentiles in the stats.</param>
    private sealed record Pending(DnsForward Forward, Client Client, long Started = 0);

    public DnsServiceActor(DnsServer core, IDnsUpstream upstream, DnsSettings settings, IFrameSink sink, FramePool pool,
        VirtualNetwork network, Func<byte[], Props>? queryProps)
    {
        _core = core;
        _upstream = upstream;
        _settings = settings;
        _sink = sink;
        _pool = pool;
        _network = network;
        _queryProps = queryProps ?? (q => DnsQueryActor.Props(q, upstream, settings.QueryTimeout));
        _latency = new LatencyWindow(Context.System.Settings.Config.GetInt("rdnet.stats.dns-latency-samples", 1024));

        Receive<FrameBuffer>(OnFrame);
        Receive<Resolve>(OnResolve);
        Receive<UpstreamAnswered>(a => Complete(Sender, (p, dst) => _core.CompleteForward(p.Forward, a.Answer, dst)));
        Receive<UpstreamFailed>(f =>
        {
            _core.Drops.Increment(f.Reason);
            Complete(Sender, Fail);
        });
        Receive<Terminated>(t =>
        {
            if (_connections.Remove(t.ActorRef)) return;
            // Still pending: the query actor died without an answer (it threw and was stopped).
            if (_pending.ContainsKey(t.ActorRef))
            {
                _core.Drops.Increment(DropReason.DnsQueryCrashed);
                Complete(t.ActorRef, Fail);
            }
        });
        Receive<GatewayProtocol.LocalStreamAccepted>(OnStream);
        Receive<GetStats>(_ => Sender.Tell(new DnsStats(_core.Drops.Snapshot(), _core.LocalAnswers, _core.Forwarded,
            _core.FormatErrors, _serverFailures, _pending.Count, _connections.Count, UpstreamLatency())));
    }

    protected override void PreStart() =>
        _log.Info("DNS on {Gateway}:53: zones {Zones}; upstream {Upstream}", _network.Gateway,
            string.Join(", ", _settings.Zones.Select(z => z.Fqdn)), _upstream.Describe());

    private DnsLatency? UpstreamLatency() =>
        _latency.Percentiles(50, 90, 99) is [var p50, var p90, var p99] ? new DnsLatency(_latency.Count, _latency.Total, p50, p90, p99) : null;

    private delegate int BuildReply(Pending pending, Span<byte> destination);

    private int Fail(Pending p, Span<byte> destination)
    {
        _serverFailures++;
        return _core.ServerFailure(p.Forward, destination);
    }

    private void OnFrame(FrameBuffer frame)
    {
        try
        {
            // The gateway validated the frame; this only finds the fields again.
            if (!EthernetFrame.TryCreate(frame.Span, out var eth, out _)
                || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out _)
                || !UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out _))
                return;
            var client = new UdpClient(eth.Source, ip.Source, udp.SourcePort);
            var reply = RentReply();
            if (reply is null) return;
            var outcome = _core.Handle(udp.Payload, DnsTransport.Udp, NextUpstreamId(), reply.Array.AsSpan(FrameHeaders), out var length, out var forward);
            switch (outcome)
            {
                case DnsOutcome.Answered when length > 0:
                    SendUdp(reply, client, length);
                    break;
                case DnsOutcome.Forward:
                    reply.Release();
                    StartQuery(forward!, client);
                    break;
                default:
                    reply.Release();
                    break;
            }
        }
        finally
        {
            frame.Release();
        }
    }

    private static LimitNotice NewLimitNotice() =>
        new(Context.System.Settings.Config.GetTimeSpan("rdnet.logging.limit-notice-interval", TimeSpan.FromSeconds(10)));

    private void OnResolve(Resolve r)
    {
        var outcome = _core.Handle(r.Query, DnsTransport.Tcp, NextUpstreamId(), _tcpScratch, out var length, out var forward);
        if (outcome == DnsOutcome.Forward) StartQuery(forward!, new TcpClient(Sender, r.Tag));
        else Sender.Tell(new Resolved(r.Tag, _tcpScratch.AsSpan(0, outcome == DnsOutcome.Answered ? length : 0).ToArray()));
    }

    private void OnStream(GatewayProtocol.LocalStreamAccepted s)
    {
        if (_connections.Count >= _settings.MaxTcpConnections)
        {
            _core.Drops.Increment(DropReason.DnsTcpConnectionLimit);
            if (_tcpLimitNotice.Hit(Environment.TickCount64, out var more))
                _log.Warning("DNS: {Max} TCP connections open: new ones are closed ({Reason}; {Unlogged} more since the last notice)", _settings.MaxTcpConnections, DropReason.DnsTcpConnectionLimit, more);
            s.Socket.Dispose();
            return;
        }
        var child = Context.ActorOf(DnsTcpConnectionActor.Props(s.Socket, Self, _settings.MaxPipelinedPerConnection, _settings.TcpIdleTimeout, _core.Drops));
        Context.Watch(child);
        _connections.Add(child);
    }

    private void StartQuery(DnsForward forward, Client client)
    {
        if (_pending.Count >= _settings.MaxConcurrentQueries)
        {
            _core.Drops.Increment(DropReason.DnsQueryLimit);
            if (_queryLimitNotice.Hit(Environment.TickCount64, out var more))
                _log.Warning("DNS: {Max} forwarded queries in flight: new ones get SERVFAIL ({Reason}; {Unlogged} more since the last notice)", _settings.MaxConcurrentQueries, DropReason.DnsQueryLimit, more);
            Reply(new Pending(forward, client), Fail);
            return;
        }
        var child = Context.ActorOf(_queryProps(forward.UpstreamQuery));
        Context.Watch(child);
        _pending[child] = new Pending(forward, client, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>Answers the query of <paramref name="child"/> with what <paramref name="build"/> writes, and stops the child.</summary>
    private void Complete(IActorRef child, BuildReply build)
    {
        if (!_pending.Remove(child, out var pending)) return;
        _latency.Add(System.Diagnostics.Stopwatch.GetElapsedTime(pending.Started).TotalMilliseconds);
        Context.Unwatch(child);
        Context.Stop(child);
        Reply(pending, build);
    }

    private void Reply(Pending p, BuildReply build)
    {
        switch (p.Client)
        {
            case UdpClient udp:
            {
                var reply = RentReply();
                if (reply is null) return;
                var length = build(p, reply.Array.AsSpan(FrameHeaders));
                if (length > 0) SendUdp(reply, udp, length);
                else reply.Release();
                break;
            }
            case TcpClient tcp:
            {
                var length = build(p, _tcpScratch);
                tcp.Connection.Tell(new Resolved(tcp.Tag, _tcpScratch.AsSpan(0, length).ToArray()));
                break;
            }
        }
    }

    private FrameBuffer? RentReply()
    {
        var b = _pool.TryRent();
        if (b is null) _core.Drops.Increment(DropReason.FramePoolExhausted);
        return b;
    }

    private void SendUdp(FrameBuffer reply, UdpClient client, int dnsLength)
    {
        var span = reply.Array.AsSpan();
        EthernetFrame.WriteHeader(span, client.Mac, _network.GatewayMac, EtherType.Ipv4);
        var ipSpan = span[EthernetFrame.HeaderLength..];
        UdpHeader.Emit(ipSpan[Ipv4Header.Length..], _network.Gateway, client.Address, DnsPort, client.Port, dnsLength);
        Ipv4Header.Emit(ipSpan, _network.Gateway, client.Address, IpProtocol.Udp, UdpHeader.Length + dnsLength, Ttl, _ipId++);
        reply.SetLength(FrameHeaders + dnsLength);
        _sink.Deliver(reply);
    }

    private static ushort NextUpstreamId() => (ushort)Random.Shared.Next(0, 0x10000);

    // A query actor or TCP connection that throws is stopped; its query is answered SERVFAIL through Terminated.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    public static Props Props(DnsServer core, IDnsUpstream upstream, DnsSettings settings, IFrameSink sink, FramePool pool,
        VirtualNetwork network, Func<byte[], Props>? queryProps = null) =>
        Akka.Actor.Props.Create(() => new DnsServiceActor(core, upstream, settings, sink, pool, network, queryProps));
}
