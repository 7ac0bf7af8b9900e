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

    /// <summary>Everything the operator sees; serialised with System.Text.Json as it is.</summary>
    public sealed record StatsSnapshot(DateTimeOffset TakenAt);
}
