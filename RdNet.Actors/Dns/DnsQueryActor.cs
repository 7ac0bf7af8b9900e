using Akka.Actor;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Protocols.Dns;
using static RdNet.Actors.Dns.DnsProtocol;

namespace RdNet.Actors.Dns;

/// <summary>
/// One forwarded query: asks the upstream, reports the answer (or the failure, or its own timeout) to its parent,
/// the DNS service, which then stops it. A slow upstream holds only this actor; its timer bounds its life.
/// </summary>
public sealed class DnsQueryActor : ReceiveActor, IWithTimers
{
    private readonly byte[] _query;
    private readonly IDnsUpstream _upstream;
    private readonly TimeSpan _timeout;
    private readonly CancellationTokenSource _cts = new();

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Timeout
    {
        public static readonly Timeout Instance = new();
    }

    private sealed record Failed(Exception Error);

    public DnsQueryActor(byte[] query, IDnsUpstream upstream, TimeSpan timeout)
    {
        _query = query;
        _upstream = upstream;
        _timeout = timeout;
        Receive<UpstreamAnswered>(a =>
        {
            Context.Parent.Tell(a);
            Done();
        });
        Receive<Failed>(_ =>
        {
            Context.Parent.Tell(new UpstreamFailed(DropReason.DnsUpstreamFailed));
            Done();
        });
        Receive<Timeout>(_ =>
        {
            _cts.Cancel();
            Context.Parent.Tell(new UpstreamFailed(DropReason.DnsUpstreamTimeout));
            Done();
        });
    }

    /// <summary>The parent stops us when it has the result; until then, later signals are ignored.</summary>
    private void Done() => Become(() => ReceiveAny(_ => { }));

    protected override void PreStart()
    {
        Timers.StartSingleTimer("timeout", Timeout.Instance, _timeout);
        _upstream.QueryAsync(_query, _cts.Token).PipeTo(Self,
            success: a => new UpstreamAnswered(a),
            failure: e => new Failed(e));
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
    }

    public static Props Props(byte[] query, IDnsUpstream upstream, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new DnsQueryActor(query, upstream, timeout));
}
