using System.Globalization;
using System.Text.RegularExpressions;

namespace RdNet.EndToEnd.Tests;

/// <summary>host-switch's per-packet trace (<c>--trace-packets</c>) switched on and off at runtime with SIGUSR1 (issue #9).</summary>
public sealed partial class PacketTraceToggleTests
{
    [GeneratedRegex(@"switch port \d+: .* -> ")]
    private static partial Regex TraceLine();

    private static int TraceLines(ChildProcess p) => TraceLine().Count(p.Output);

    private static void Usr1(ChildProcess p) =>
        Harness.Require(Harness.Run("kill", ["-USR1", p.Pid.ToString(CultureInfo.InvariantCulture)]), "kill -USR1");

    [Fact]
    public async Task SIGUSR1_turns_per_packet_trace_lines_on_and_off_without_stopping_host_switch()
    {
        using var sb = new NetworkSandbox();
        var hs = sb.StartHostSwitch();
        Assert.True(await Harness.WaitUntil(() => File.Exists(sb.SocketPath), TimeSpan.FromSeconds(30)), sb.Diagnostics());
        sb.StartVmSwitch();
        Assert.True(await Harness.WaitUntil(() => sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), TimeSpan.FromSeconds(40)), sb.Diagnostics());

        // Off by default: traffic writes no trace line.
        Harness.Require(sb.InGuest("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1"), "ping");
        Assert.Equal(0, TraceLines(hs));

        // SIGUSR1: on. Each echo request and reply through the switch is a line.
        Usr1(hs);
        Assert.True(await Harness.WaitUntil(() => hs.Output.Contains("packet tracing on", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), sb.Diagnostics());
        Harness.Require(sb.InGuest("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1"), "ping");
        Assert.True(await Harness.WaitUntil(() => TraceLines(hs) >= 6, TimeSpan.FromSeconds(10)), sb.Diagnostics());
        Assert.Contains("ICMP", hs.Output, StringComparison.Ordinal);

        // SIGUSR1 again: off; the count stops growing, and the process is still there (SIGUSR1 did not kill it).
        Usr1(hs);
        Assert.True(await Harness.WaitUntil(() => hs.Output.Contains("packet tracing off", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), sb.Diagnostics());
        await Task.Delay(300);
        var before = TraceLines(hs);
        Harness.Require(sb.InGuest("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1"), "ping");
        await Task.Delay(500);
        Assert.Equal(before, TraceLines(hs));
        Assert.False(hs.HasExited, sb.Diagnostics());
    }
}
