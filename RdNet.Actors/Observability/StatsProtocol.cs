using System.Text.Json;

namespace RdNet.Actors.Observability;

/// <summary>
/// The operator's view: the host-switch role actor answers <see cref="GetSnapshot"/> with a
/// <see cref="StatsSnapshot"/>, which the host-side API serves as JSON at <c>GET /stats</c>.
/// </summary>
public static class StatsProtocol
{
    public sealed record GetSnapshot
    {
        public static readonly GetSnapshot Instance = new();
    }

    /// <summary>
    /// Everything the operator sees; serialised with System.Text.Json as it is (<see cref="Json"/>: camelCase).
    /// </summary>
    /// <param name="Partial">Some part did not answer within <c>rdnet.stats.aggregate-timeout</c>; <paramref name="Missing"/> names it.</param>
    /// <param name="Drops">Dropped frames/packets by named reason (<c>DropReason</c>), over the switch, its links and the gateway services.</param>
    /// <param name="Forwards">Port forwards installed. Reported by the forwarder (0 when it did not answer in time).</param>
    public sealed record StatsSnapshot(
        DateTimeOffset TakenAt,
        bool Partial = false,
        IReadOnlyList<string>? Missing = null,
        IReadOnlyList<PortCounters>? Ports = null,
        IReadOnlyDictionary<string, long>? Drops = null,
        IReadOnlyList<FlowCounters>? Flows = null,
        DnsCounters? Dns = null,
        int DhcpLeases = 0,
        int Forwards = 0);

    /// <summary>One switch port: In = frames the port delivered to the switch, Out = frames the switch sent to it.</summary>
    public sealed record PortCounters(int Id, string Name, long FramesIn, long FramesOut, long BytesIn, long BytesOut, long Drops);

    /// <summary>NAT flows of one protocol (tcp, udp, icmp): open now, and opened since start.</summary>
    public sealed record FlowCounters(string Protocol, int Active, long Total);

    /// <summary>DNS on the gateway; latency percentiles (ms) of forwarded queries, null before the first.</summary>
    public sealed record DnsCounters(
        long Queries, long LocalAnswers, long Forwarded, long FormatErrors, long ServerFailures, int InFlight,
        double? P50Ms = null, double? P90Ms = null, double? P99Ms = null, int LatencySamples = 0);

    /// <summary>The JSON shape of <c>GET /stats</c>, shared by the server and <c>rdnet stats</c>.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
