using RdNet.Transport.Diagnostics;

namespace RdNet.Actors.Dns;

/// <summary>Messages of the gateway's DNS actors.</summary>
public static class DnsProtocol
{
    /// <summary>A DNS-over-TCP connection asks the service to answer one query (the message without its length prefix).</summary>
    public sealed record Resolve(long Tag, byte[] Query);

    /// <summary>The service's reply to <see cref="Resolve"/>; an empty <paramref name="Reply"/> means nothing is sent back.</summary>
    public sealed record Resolved(long Tag, byte[] Reply);

    /// <summary>A query actor's result: the upstream's answer.</summary>
    public sealed record UpstreamAnswered(byte[] Answer);

    /// <summary>A query actor's result: no usable answer, for <paramref name="Reason"/>.</summary>
    public sealed record UpstreamFailed(DropReason Reason);

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record DnsStats(
        IReadOnlyDictionary<DropReason, long> Drops,
        long LocalAnswers,
        long Forwarded,
        long FormatErrors,
        long ServerFailures,
        int QueriesInFlight,
        int TcpConnections,
        DnsLatency? UpstreamLatency = null);

    /// <summary>Forwarded queries, from forward to answer (or failure): percentiles over the last <paramref name="Samples"/> of <paramref name="Total"/>.</summary>
    public sealed record DnsLatency(int Samples, long Total, double P50Ms, double P90Ms, double P99Ms);
}
