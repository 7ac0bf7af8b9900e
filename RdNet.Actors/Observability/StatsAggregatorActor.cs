using Akka.Actor;
using RdNet.Actors.Dns;
using RdNet.Actors.Forwarding;
using RdNet.Actors.Gateway;
using RdNet.Actors.Icmp;
using RdNet.Actors.Switch;
using RdNet.Actors.Tcp;
using RdNet.Actors.UdpNat;
using RdNet.Transport.Diagnostics;
using static RdNet.Actors.Observability.StatsProtocol;

namespace RdNet.Actors.Observability;

/// <summary>
/// One per <see cref="GetSnapshot"/>: asks each source for its stats (plain Tell, the answers come back to this
/// actor), builds one <see cref="StatsSnapshot"/> when all have answered or the timeout fires (then flagged partial,
/// naming who is missing), sends it to whoever asked, and stops. No Ask between actors, and a slow source never holds
/// up the role actor.
/// </summary>
public sealed class StatsAggregatorActor : ReceiveActor, IWithTimers
{
    /// <summary>A source: a name for <see cref="StatsSnapshot.Missing"/>, where to send, what to send.</summary>
    public sealed record Source(string Name, ICanTell Target, object Request);

    private sealed record TimedOut
    {
        public static readonly TimedOut Instance = new();
    }

    private readonly IActorRef _replyTo;
    private readonly IReadOnlyList<Source> _sources;
    private readonly TimeSpan _timeout;
    private readonly Dictionary<string, object> _answers = [];

    public ITimerScheduler Timers { get; set; } = null!;

    public StatsAggregatorActor(IActorRef replyTo, IReadOnlyList<Source> sources, TimeSpan timeout)
    {
        _replyTo = replyTo;
        _sources = sources;
        _timeout = timeout;
        Receive<SwitchProtocol.RouterStats>(s => Answer("switch", s));
        Receive<GatewayActor.GatewayStats>(s => Answer("gateway", s));
        Receive<TcpNatProtocol.TcpNatStats>(s => Answer("tcp", s));
        Receive<UdpProtocol.UdpNatStats>(s => Answer("udp", s));
        Receive<IcmpEchoActor.IcmpEchoStats>(s => Answer("icmp", s));
        Receive<DnsProtocol.DnsStats>(s => Answer("dns", s));
        Receive<ForwarderProtocol.ForwarderStats>(s => Answer("forwarder", s));
        Receive<TimedOut>(_ => Finish());
    }

    protected override void PreStart()
    {
        foreach (var s in _sources) s.Target.Tell(s.Request, Self);
        if (_sources.Count == 0) Finish();
        else Timers.StartSingleTimer("timeout", TimedOut.Instance, _timeout);
    }

    private void Answer(string name, object stats)
    {
        _answers[name] = stats;
        if (_sources.All(s => _answers.ContainsKey(s.Name))) Finish();
    }

    private void Finish()
    {
        var missing = _sources.Select(s => s.Name).Where(n => !_answers.ContainsKey(n)).ToList();
        _replyTo.Tell(Build(DateTimeOffset.UtcNow, _answers, missing));
        Context.Stop(Self);
    }

    /// <summary>The snapshot from whatever answered (keys: switch, gateway, tcp, udp, icmp, dns, forwarder).</summary>
    public static StatsSnapshot Build(DateTimeOffset now, IReadOnlyDictionary<string, object> answers, IReadOnlyList<string> missing)
    {
        var router = answers.GetValueOrDefault("switch") as SwitchProtocol.RouterStats;
        var gateway = answers.GetValueOrDefault("gateway") as GatewayActor.GatewayStats;
        var tcp = answers.GetValueOrDefault("tcp") as TcpNatProtocol.TcpNatStats;
        var udp = answers.GetValueOrDefault("udp") as UdpProtocol.UdpNatStats;
        var icmp = answers.GetValueOrDefault("icmp") as IcmpEchoActor.IcmpEchoStats;
        var dns = answers.GetValueOrDefault("dns") as DnsProtocol.DnsStats;
        var forwarder = answers.GetValueOrDefault("forwarder") as ForwarderProtocol.ForwarderStats;

        var drops = new Dictionary<string, long>(StringComparer.Ordinal);
        void Sum(IReadOnlyDictionary<DropReason, long>? d)
        {
            if (d is null) return;
            foreach (var (reason, n) in d)
                if (n != 0) drops[reason.ToString()] = drops.GetValueOrDefault(reason.ToString()) + n;
        }
        Sum(router?.Drops);
        foreach (var p in router?.Ports ?? []) Sum(p.Drops);
        // The gateway core, TCP NAT and DNS count into one shared DropCounters: their snapshots are the same counters
        // read at slightly different moments, so they are merged by maximum, not added.
        var shared = new Dictionary<DropReason, long>();
        foreach (var d in new[] { gateway?.Drops, tcp?.Drops, dns?.Drops })
            foreach (var (reason, n) in d ?? new Dictionary<DropReason, long>())
                shared[reason] = Math.Max(shared.GetValueOrDefault(reason), n);
        Sum(shared);
        Sum(udp?.Drops);
        Sum(icmp?.Drops);

        var flows = new List<FlowCounters>();
        if (tcp is not null) flows.Add(new FlowCounters("tcp", tcp.Flows, tcp.FlowsOpened));
        if (udp is not null) flows.Add(new FlowCounters("udp", udp.Flows, udp.Created));
        if (icmp is not null) flows.Add(new FlowCounters("icmp", icmp.Pending, icmp.Forwarded));
        // Connections accepted by the port forwards' host listeners (each carried into the guest as a TCP flow too).
        if (forwarder is not null) flows.Add(new FlowCounters("forwarded", forwarder.Connections, forwarder.Accepted));

        DnsCounters? dnsCounters = dns is null ? null : new DnsCounters(
            dns.LocalAnswers + dns.Forwarded + dns.FormatErrors, dns.LocalAnswers, dns.Forwarded, dns.FormatErrors, dns.ServerFailures, dns.QueriesInFlight,
            dns.UpstreamLatency?.P50Ms, dns.UpstreamLatency?.P90Ms, dns.UpstreamLatency?.P99Ms, dns.UpstreamLatency?.Samples ?? 0);

        return new StatsSnapshot(
            now,
            missing.Count > 0,
            missing,
            (router?.Ports ?? []).Select(p => new PortCounters(p.PortId, p.Name, p.FramesIn, p.FramesOut, p.BytesIn, p.BytesOut, p.Drops.Values.Sum())).ToList(),
            drops,
            flows,
            dnsCounters,
            gateway?.Leases.Count ?? 0,
            Forwards: forwarder?.Forwards ?? 0);
    }

    public static Props Props(IActorRef replyTo, IReadOnlyList<Source> sources, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new StatsAggregatorActor(replyTo, sources, timeout));
}
