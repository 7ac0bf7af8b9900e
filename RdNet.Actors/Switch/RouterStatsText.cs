using System.Globalization;
using System.Text;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Switch;

/// <summary>One log line for the periodic traffic summary of a switch (both roles, with --debug).</summary>
public static class RouterStatsText
{
    /// <summary>
    /// Frames and bytes per port and every non-zero drop counter: the router's own and each link's (a full send queue
    /// towards a slow peer is counted on that link as EgressQueueFull, and must be visible here).
    /// </summary>
    public static string Describe(RouterStats s)
    {
        var b = new StringBuilder();
        foreach (var p in s.Ports)
        {
            if (b.Length > 0) b.Append("; ");
            b.Append(CultureInfo.InvariantCulture, $"{p.Name}: in {p.FramesIn} frames/{p.BytesIn} B, out {p.FramesOut} frames/{p.BytesOut} B");
        }
        b.Append(CultureInfo.InvariantCulture, $"; CAM {s.CamEntries}; drops ");
        var drops = s.Drops.Where(d => d.Value > 0).Select(d => $"{d.Key}={d.Value}")
            .Concat(s.Ports.SelectMany(p => p.Drops.Where(d => d.Value > 0).Select(d => $"{p.Name}:{d.Key}={d.Value}")))
            .ToList();
        b.Append(drops.Count == 0 ? "none" : string.Join(", ", drops));
        return b.ToString();
    }
}
