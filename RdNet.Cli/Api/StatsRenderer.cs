using System.Globalization;
using System.Text;
using static RdNet.Actors.Observability.StatsProtocol;

namespace RdNet.Cli.Api;

/// <summary>Prints a <c>GET /stats</c> snapshot as the tables of <c>rdnet stats</c>.</summary>
public static class StatsRenderer
{
    public static string Render(StatsSnapshot s)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"host-switch stats at {s.TakenAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z");
        if (s.Partial) sb.Append(CultureInfo.InvariantCulture, $" (partial: no answer from {string.Join(", ", s.Missing ?? [])})");
        sb.Append('\n').Append('\n');

        Table(sb, ["PORT", "NAME", "FRAMES IN", "FRAMES OUT", "BYTES IN", "BYTES OUT", "DROPS"],
            (s.Ports ?? []).Select(p => new[] { N(p.Id), p.Name, N(p.FramesIn), N(p.FramesOut), Bytes(p.BytesIn), Bytes(p.BytesOut), N(p.Drops) }));
        sb.Append('\n');
        Table(sb, ["FLOWS", "ACTIVE", "TOTAL"], (s.Flows ?? []).Select(f => new[] { f.Protocol, N(f.Active), N(f.Total) }));
        sb.Append('\n');
        if (s.Dns is { } d)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"DNS: {d.Queries} queries ({d.LocalAnswers} local, {d.Forwarded} forwarded, {d.FormatErrors} malformed), {d.ServerFailures} SERVFAIL, {d.InFlight} in flight\n");
            sb.Append(d.P50Ms is { } p50
                ? string.Create(CultureInfo.InvariantCulture, $"DNS upstream latency: p50 {Ms(p50)}, p90 {Ms(d.P90Ms ?? 0)}, p99 {Ms(d.P99Ms ?? 0)} (last {d.LatencySamples} forwarded queries)\n")
                : "DNS upstream latency: no forwarded query yet\n");
        }
        else
        {
            sb.Append("DNS: no answer\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"DHCP leases: {s.DhcpLeases}   forwards: {s.Forwards}\n\n");
        var drops = (s.Drops ?? new Dictionary<string, long>()).Where(kv => kv.Value != 0).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (drops.Count == 0) sb.Append("DROPS: none\n");
        else Table(sb, ["DROP REASON", "COUNT"], drops.Select(kv => new[] { kv.Key, N(kv.Value) }));
        return sb.ToString();
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string Ms(double v) => v.ToString(v < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Bytes(long v) => v switch
    {
        < 10 * 1024 => v.ToString(CultureInfo.InvariantCulture) + " B",
        < 10L * 1024 * 1024 => (v / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 10L * 1024 * 1024 * 1024 => (v / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (v / 1073741824.0).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
    };

    /// <summary>Columns padded to their widest cell; the first two left-aligned, numbers right-aligned.</summary>
    private static void Table(StringBuilder sb, string[] header, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        foreach (var row in all)
        {
            var line = new StringBuilder();
            for (var i = 0; i < row.Length; i++)
            {
                if (i > 0) line.Append("  ");
                var leftAligned = i == 0 || (i == 1 && header.Length > 3);
                line.Append(leftAligned ? row[i].PadRight(widths[i]) : row[i].PadLeft(widths[i]));
            }
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        if (all.Count == 1) sb.Append("(none)\n");
    }
}
