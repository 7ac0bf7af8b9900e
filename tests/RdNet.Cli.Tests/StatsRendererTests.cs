using System.Text.Json;
using RdNet.Cli.Api;
using static RdNet.Actors.Observability.StatsProtocol;

namespace RdNet.Cli.Tests;

public sealed class StatsRendererTests
{
    // What GET /stats returns (StatsProtocol.Json: camelCase), as a client sees it.
    private const string Sample = """
        {
          "takenAt": "2026-11-28T18:10:00+00:00",
          "partial": true,
          "missing": ["icmp"],
          "ports": [
            { "id": 1, "name": "gateway 192.168.127.1", "framesIn": 40, "framesOut": 42, "bytesIn": 0, "bytesOut": 0, "drops": 0 },
            { "id": 2, "name": "vm unix:///run/rdnet/data.sock#1", "framesIn": 1234567, "framesOut": 7, "bytesIn": 52428800, "bytesOut": 2048, "drops": 3 }
          ],
          "drops": { "EgressQueueFull": 3, "DnsQueryLimit": 12, "TcpOutOfOrderQueueFull": 0 },
          "flows": [ { "protocol": "tcp", "active": 2, "total": 15 }, { "protocol": "udp", "active": 1, "total": 4 } ],
          "dns": { "queries": 43, "localAnswers": 30, "forwarded": 12, "formatErrors": 1, "serverFailures": 2, "inFlight": 0,
                   "p50Ms": 1.5, "p90Ms": 4, "p99Ms": 19.25, "latencySamples": 12 },
          "dhcpLeases": 1,
          "forwards": 0
        }
        """;

    private static string Render() => StatsRenderer.Render(JsonSerializer.Deserialize<StatsSnapshot>(Sample, Json)!);

    [Fact]
    public void The_header_names_the_time_and_what_did_not_answer()
    {
        Assert.StartsWith("host-switch stats at 2026-11-28 18:10:00Z (partial: no answer from icmp)\n", Render(), StringComparison.Ordinal);
    }

    [Fact]
    public void Ports_are_a_table_with_aligned_columns_and_readable_sizes()
    {
        var lines = Render().Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("PORT", StringComparison.Ordinal));
        Assert.Equal("PORT  NAME                              FRAMES IN  FRAMES OUT  BYTES IN  BYTES OUT  DROPS", lines[header]);
        Assert.Equal("1     gateway 192.168.127.1                    40          42       0 B        0 B      0", lines[header + 1]);
        Assert.Equal("2     vm unix:///run/rdnet/data.sock#1  1,234,567           7  50.0 MiB     2048 B      3", lines[header + 2]);
    }

    [Fact]
    public void Flows_dns_latency_and_nonzero_drops_are_shown_biggest_first()
    {
        var text = Render();
        Assert.Contains("FLOWS  ACTIVE  TOTAL\ntcp         2     15\nudp         1      4\n", text, StringComparison.Ordinal);
        Assert.Contains("DNS: 43 queries (30 local, 12 forwarded, 1 malformed), 2 SERVFAIL, 0 in flight\n", text, StringComparison.Ordinal);
        Assert.Contains("DNS upstream latency: p50 1.50 ms, p90 4.00 ms, p99 19.3 ms (last 12 forwarded queries)\n", text, StringComparison.Ordinal);
        Assert.Contains("DHCP leases: 1   forwards: 0\n", text, StringComparison.Ordinal);
        Assert.EndsWith("DROP REASON      COUNT\nDnsQueryLimit       12\nEgressQueueFull      3\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("TcpOutOfOrderQueueFull", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_snapshot_still_renders_every_section()
    {
        var text = StatsRenderer.Render(new StatsSnapshot(DateTimeOffset.UnixEpoch));
        Assert.Contains("(none)", text, StringComparison.Ordinal);
        Assert.Contains("DNS: no answer", text, StringComparison.Ordinal);
        Assert.Contains("DROPS: none", text, StringComparison.Ordinal);
    }
}
