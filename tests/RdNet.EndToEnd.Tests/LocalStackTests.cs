using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using RdNet.Transport.Linux;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// <c>rdnet up</c> and <c>rdnet run</c> (issue #9), started inside a loopback-only namespace of the test's own that
/// stands in for the machine: the veth pair and host-switch's sockets land there, the guest namespace gets a unique
/// name, and DNS goes to a fake server on that namespace's 127.0.0.1. Nothing is added to the machine's network.
/// </summary>
public sealed class LocalStackTests
{
    private sealed class StandIn : IDisposable
    {
        public StandIn()
        {
            var id = Random.Shared.Next(0, 0xFFFFFF).ToString("x6", CultureInfo.InvariantCulture);
            HostNs = $"rdne-uh-{id}";
            Name = $"rdne-ug-{id}";
            Harness.Require(Harness.Ip("netns", "add", HostNs), "ip netns add");
            Harness.Require(Harness.Ip("-n", HostNs, "link", "set", "lo", "up"), "lo up");
        }

        public string HostNs { get; }

        /// <summary>The guest namespace rdnet up/run creates (its --name).</summary>
        public string Name { get; }

        public string RuntimeDir => $"/run/rdnet/{Name}";

        // nsenter --net, not ip netns exec: rdnet stays in the machine's mount namespace, as when an operator runs it,
        // so the namespace it adds under /run/netns is visible to `ip netns exec NAME` from anywhere.
        public CommandResult Run(TimeSpan timeout, params string[] args) =>
            Harness.Run("nsenter", [$"--net=/run/netns/{HostNs}", Harness.RdnetPath, .. args], timeout);

        public ChildProcess Start(params string[] args) =>
            new("nsenter", [$"--net=/run/netns/{HostNs}", Harness.RdnetPath, .. args], "rdnet");

        /// <summary>As <see cref="Start"/>, in a session of its own (no controlling terminal, whoever runs the tests).</summary>
        // A shell that starts a background job without job control leaves it ignoring SIGINT, and an ignored signal
        // stays ignored across exec: the test runner may have been started that way, so SIGINT is made the default
        // again (for rdnet and the command it runs), as it is for a command started from a terminal or a service.
        public ChildProcess StartDetached(params string[] args) =>
            new("setsid", ["env", "--default-signal=INT", "nsenter", $"--net=/run/netns/{HostNs}", Harness.RdnetPath, .. args], "rdnet");

        public void Dispose()
        {
            foreach (var ns in new[] { Name, HostNs })
            {
                foreach (var pid in Harness.Run("ip", ["netns", "pids", ns]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    Harness.Run("kill", ["-9", pid]);
                Harness.Ip("netns", "del", ns);
            }
            try { Directory.Delete(RuntimeDir, recursive: true); } catch (IOException) { }
            try { Directory.Delete($"/etc/netns/{Name}", recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A one-page HTTP/1.0 server on 127.0.0.1 inside <paramref name="netns"/>.</summary>
    private static (Socket Listener, int Port) ServePage(string netns, string page, CancellationToken ct, IPEndPoint? at = null)
    {
        var listener = NetNamespace.RunIn(netns, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(at ?? new IPEndPoint(IPAddress.Loopback, 0));
            s.Listen(8);
            return s;
        });
        _ = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                using var c = await listener.AcceptAsync(ct);
                var buffer = new byte[4096];
                await c.ReceiveAsync(buffer, SocketFlags.None, ct); // the request line and headers fit
                var body = Encoding.ASCII.GetBytes(page);
                await c.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n").Concat(body).ToArray(), SocketFlags.None, ct);
                c.Shutdown(SocketShutdown.Both);
            }
        }, ct);
        return (listener, ((IPEndPoint)listener.LocalEndPoint!).Port);
    }

    /// <summary>As <see cref="ServePage"/>, on 0.0.0.0:<paramref name="port"/> inside <paramref name="netns"/>.</summary>
    private static (Socket Listener, int Port) ServePageOn(string netns, int port, string page, CancellationToken ct) =>
        ServePage(netns, page, ct, new IPEndPoint(IPAddress.Any, port));

    private static void AssertNothingLeft(StandIn s, string output)
    {
        Assert.DoesNotContain(s.Name, Harness.Ip("netns", "list").Stdout, StringComparison.Ordinal);
        var links = Harness.Ip("-n", s.HostNs, "-o", "link", "show").Stdout;
        Assert.True(links.Trim().Split('\n').Length == 1 && links.Contains("lo:", StringComparison.Ordinal), $"interfaces left in the stand-in namespace:\n{links}\n{output}");
        Assert.False(Directory.Exists(s.RuntimeDir), $"{s.RuntimeDir} left behind: {(Directory.Exists(s.RuntimeDir) ? string.Join(", ", Directory.GetFileSystemEntries(s.RuntimeDir)) : "")}");
        Assert.False(Directory.Exists($"/etc/netns/{s.Name}"), $"/etc/netns/{s.Name} left behind");
        Assert.Equal("", Harness.Run("ip", ["netns", "pids", s.HostNs]).Stdout.Trim());
    }

    [Fact]
    public async Task Run_curls_a_page_from_the_host_loopback_by_its_local_dns_name_and_exits_with_the_commands_status()
    {
        using var s = new StandIn();
        using var upstream = new FakeDnsServer(s.HostNs);
        using var cts = new CancellationTokenSource();
        var (listener, port) = ServePage(s.HostNs, "hello from the host's loopback\n", cts.Token);
        using var _ = listener;
        try
        {
            var url = $"http://host.rancher-desktop.internal:{port}/";
            var r = s.Run(TimeSpan.FromSeconds(150), "run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", upstream.Endpoint,
                "--", "curl", "-s", "--max-time", "20", url);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("hello from the host's loopback\n", r.Stdout);
            // The name came from the gateway's local zone, not from the upstream.
            Assert.Equal(0, upstream.Queries);
            AssertNothingLeft(s, r.ToString());

            // The command's status is rdnet run's.
            var failing = s.Run(TimeSpan.FromSeconds(150), "run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", upstream.Endpoint,
                "--", "sh", "-c", "ip -4 -o addr show dev eth0; exit 7");
            Assert.True(failing.ExitCode == 7, failing.ToString());
            Assert.Contains("inet 192.168.127.2/24", failing.Stdout, StringComparison.Ordinal);
            AssertNothingLeft(s, failing.ToString());
        }
        finally
        {
            await cts.CancelAsync();
        }
    }

    [Fact]
    public async Task Up_then_SIGTERM_leaves_no_namespace_interface_socket_file_or_process()
    {
        using var s = new StandIn();
        using var up = s.Start("up", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9");
        var ready = await Harness.WaitUntil(() => up.Output.Contains($"namespace {s.Name} is up", StringComparison.Ordinal) || up.HasExited, TimeSpan.FromSeconds(120));
        Assert.True(ready && !up.HasExited, up.Output);
        Assert.Contains($"ip netns exec {s.Name}", up.Output, StringComparison.Ordinal);
        Assert.Contains("rdnet forward expose", up.Output, StringComparison.Ordinal);

        // Working: the guest pings the gateway; resolv.conf inside names the gateway.
        var ping = Harness.Run("ip", ["netns", "exec", s.Name, "ping", "-c", "1", "-W", "2", "192.168.127.1"]);
        Assert.True(ping.ExitCode == 0, $"{ping}\n{up.Output}");
        Assert.Contains("nameserver 192.168.127.1", Harness.Run("ip", ["netns", "exec", s.Name, "cat", "/etc/resolv.conf"]).Stdout, StringComparison.Ordinal);
        // What exists while it runs: the veth end, the sockets, and the processes (host-switch, network-setup, vm-switch, udhcpc).
        Assert.Contains("veth-rd0", Harness.Ip("-n", s.HostNs, "-o", "link", "show").Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(s.RuntimeDir, "handshake.sock")), up.Output);
        // The operator's view: rdnet stats --json on the host-side API rdnet up serves; its counters move with traffic,
        // and a forward added with rdnet forward shows up in it.
        var api = "unix://" + Path.Combine(s.RuntimeDir, "api.sock");
        var before = StatsJson(s, api, up);
        Assert.True(Harness.Run("ip", ["netns", "exec", s.Name, "ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.127.1"]).ExitCode == 0, up.Output);
        var exposed = s.Run(TimeSpan.FromSeconds(30), "forward", "expose", "--api", api, "127.0.0.1:18080", "192.168.127.2:8080");
        Assert.True(exposed.ExitCode == 0, $"{exposed}\n{up.Output}");
        var after = StatsJson(s, api, up);
        Assert.True(FramesIn(after) >= FramesIn(before) + 5, $"frames in did not move: {FramesIn(before)} -> {FramesIn(after)}");
        Assert.Equal(0, before.GetProperty("forwards").GetInt32());
        Assert.Equal(1, after.GetProperty("forwards").GetInt32());
        Assert.False(after.GetProperty("partial").GetBoolean(), after.ToString());

        var pids = Harness.Run("ip", ["netns", "pids", s.HostNs]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Concat(Harness.Run("ip", ["netns", "pids", s.Name]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => p != up.Pid).ToList();
        Assert.True(pids.Count >= 4, $"expected host-switch, network-setup, vm-switch and udhcpc, got {pids.Count}\n{up.Output}");

        up.Terminate(TimeSpan.FromSeconds(45));
        Assert.True(up.ExitCode == 0, up.Output);
        AssertNothingLeft(s, up.Output);
        foreach (var pid in pids)
            Assert.False(Directory.Exists($"/proc/{pid}"), $"pid {pid} outlived rdnet up\n{up.Output}");
    }

    private static JsonElement StatsJson(StandIn s, string api, ChildProcess up)
    {
        var r = s.Run(TimeSpan.FromSeconds(30), "stats", "--json", "--api", api);
        Assert.True(r.ExitCode == 0, $"{r}\n{up.Output}");
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.Clone();
    }

    private static long FramesIn(JsonElement stats) =>
        stats.GetProperty("ports").EnumerateArray().Sum(p => p.GetProperty("framesIn").GetInt64());

    [Fact]
    public async Task Run_with_publish_forwards_a_host_loopback_port_to_a_server_in_the_namespace()
    {
        using var s = new StandIn();
        var done = Path.Combine(Path.GetTempPath(), $"rdnet-run-done-{s.Name}");
        var hostPort = 20000 + Random.Shared.Next(0, 20000);
        using var run = s.Start("run", "--name", s.Name, "--outbound-allow", "127.0.0.1/32", "--dns-upstream", "127.0.0.1:9",
            "--publish", $"{hostPort}:8080", "--", "sh", "-c", $"while [ ! -e {done} ]; do sleep 0.2; done; exit 3");
        try
        {
            // The command runs once the namespace is up: then a server on the guest's port 8080 (bound by the test inside it).
            var up = await Harness.WaitUntil(() => Harness.Run("ip", ["netns", "pids", s.Name]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= 3 || run.HasExited, TimeSpan.FromSeconds(120));
            Assert.True(up && !run.HasExited, run.Output);
            await Harness.WaitUntil(() => run.Output.Contains("is up", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            using var cts = new CancellationTokenSource();
            var (listener, _) = ServePageOn(s.Name, 8080, "published page\n", cts.Token);
            using var __ = listener;
            var curl = Harness.Run("nsenter", [$"--net=/run/netns/{s.HostNs}", "curl", "-s", "--max-time", "10", $"http://127.0.0.1:{hostPort}/"], TimeSpan.FromSeconds(20));
            Assert.True(curl.ExitCode == 0, $"{curl}\n{run.Output}");
            Assert.Equal("published page\n", curl.Stdout);
            await cts.CancelAsync();
        }
        finally
        {
            File.WriteAllText(done, "");
        }
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(60)), run.Output);
        File.Delete(done);
        Assert.True(run.ExitCode == 3, run.Output);
        AssertNothingLeft(s, run.Output);
    }

    [Fact]
    public void A_namespace_of_that_name_that_rdnet_did_not_make_is_refused_and_left_alone()
    {
        using var s = new StandIn();
        Harness.Require(Harness.Ip("netns", "add", s.Name), "ip netns add");
        var r = s.Run(TimeSpan.FromSeconds(60), "run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9", "--", "true");
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Contains("already exists", r.Stderr + r.Stdout, StringComparison.Ordinal);
        Assert.Contains(s.Name, Harness.Ip("netns", "list").Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(s.RuntimeDir));
    }

    [Fact]
    public void A_bad_publish_value_is_refused_naming_the_expected_format_before_anything_starts()
    {
        using var s = new StandIn();
        var r = s.Run(TimeSpan.FromSeconds(30), "run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9", "--publish", "8080", "--", "true");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("HOST:GUEST", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(s.RuntimeDir));
        Assert.DoesNotContain(s.Name, Harness.Ip("netns", "list").Stdout, StringComparison.Ordinal);
    }

    private static List<int> PidsIn(string netns) =>
        Harness.Run("ip", ["netns", "pids", netns]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();

    [Fact]
    public async Task Up_killed_with_SIGKILL_takes_host_switch_network_setup_and_the_namespace_with_it()
    {
        using var s = new StandIn();
        using var up = s.Start("up", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9");
        var ready = await Harness.WaitUntil(() => up.Output.Contains($"namespace {s.Name} is up", StringComparison.Ordinal) || up.HasExited, TimeSpan.FromSeconds(120));
        Assert.True(ready && !up.HasExited, up.Output);
        // Stay up past the thread pool's idle retirement (~20 s): the roles must be tied to rdnet up, not to the
        // pool thread that happened to start them.
        await Task.Delay(TimeSpan.FromSeconds(25));
        var roles = PidsIn(s.HostNs).Where(p => p != up.Pid).ToList();
        var guest = PidsIn(s.Name);
        Assert.True(roles.Count >= 2 && guest.Count >= 2, $"expected host-switch and network-setup, vm-switch and udhcpc; got {roles.Count} and {guest.Count}\n{up.Output}");

        Harness.Run("kill", ["-KILL", up.Pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(up.WaitForExit(TimeSpan.FromSeconds(10)), up.Output);
        var gone = await Harness.WaitUntil(() => roles.Concat(guest).All(p => !Directory.Exists($"/proc/{p}")), TimeSpan.FromSeconds(45));
        Assert.True(gone, $"outlived a SIGKILLed rdnet up: {string.Join(", ", roles.Concat(guest).Where(p => Directory.Exists($"/proc/{p}")))}\n{up.Output}");
        // network-setup stopped in order: the namespace and the veth pair went with it.
        Assert.DoesNotContain(s.Name, Harness.Ip("netns", "list").Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("veth", Harness.Ip("-n", s.HostNs, "-o", "link", "show").Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("INT", 5)]
    [InlineData("TERM", 6)]
    public async Task A_signal_sent_to_run_with_kill_is_passed_on_to_the_command_and_run_exits_with_its_status(string signal, int status)
    {
        using var s = new StandIn();
        var script = $"trap 'exit {status}' {signal}; echo command-ready; while :; do sleep 0.2; done";
        using var run = s.StartDetached("run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9", "--", "sh", "-c", script);
        var ready = await Harness.WaitUntil(() => run.Output.Contains("command-ready", StringComparison.Ordinal) || run.HasExited, TimeSpan.FromSeconds(120));
        Assert.True(ready && !run.HasExited, run.Output);

        Harness.Run("kill", [$"-{signal}", run.Pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(60)), $"rdnet run did not end after SIG{signal}\n{run.Output}");
        Assert.True(run.ExitCode == status, run.Output);
        Assert.Contains($"SIG{signal} received; passed on to the command", run.Output, StringComparison.Ordinal);
        AssertNothingLeft(s, run.Output);
    }

    [Fact]
    public async Task Run_killed_with_SIGKILL_takes_its_command_with_it_by_SIGTERM()
    {
        using var s = new StandIn();
        // network-setup SIGKILLs what is left in the namespace when it goes; the command's own SIGTERM comes first, so
        // it can stop in order as when rdnet run is terminated (the trap shows which signal ended it).
        var mark = Path.Combine(Path.GetTempPath(), $"{s.Name}.signal");
        const string SigLines = "grep -E '^Sig(Ign|Blk)' /proc/self/status";
        using var run = s.Start("run", "--name", s.Name, "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:9",
            "--", "sh", "-c", $"trap 'echo TERM > {mark}; exit 0' TERM; {SigLines}; echo command-pid $$; while :; do sleep 0.2; done");
        var ready = await Harness.WaitUntil(() => run.Output.Contains("command-pid", StringComparison.Ordinal) || run.HasExited, TimeSpan.FromSeconds(120));
        Assert.True(ready && !run.HasExited, run.Output);
        var pidLine = run.Output.Split('\n').First(l => l.StartsWith("command-pid ", StringComparison.Ordinal));
        var command = int.Parse(pidLine["command-pid ".Length..].Trim(), CultureInfo.InvariantCulture);
        // The exec shim on the way (a .NET process, which ignores SIGPIPE) hands the command the signal state a
        // directly started one has, except that SIGPIPE is always the default (the test runner may ignore it).
        var direct = Harness.Run("sh", ["-c", SigLines]).Stdout;
        const ulong SigPipe = 1UL << (13 - 1);
        Assert.Equal(SignalMask(direct, "SigBlk"), SignalMask(run.Output, "SigBlk"));
        Assert.Equal(SignalMask(direct, "SigIgn") & ~SigPipe, SignalMask(run.Output, "SigIgn"));
        try
        {
            // Past the thread pool's idle retirement (~20 s): the signal follows the thread that forked, so the
            // command must be tied to rdnet run's spawner thread, not to a pool thread that retires.
            await Task.Delay(TimeSpan.FromSeconds(25));
            Assert.True(IsCommand(command) && !File.Exists(mark), $"the command stopped while rdnet run was alive\n{run.Output}");

            Harness.Run("kill", ["-KILL", run.Pid.ToString(CultureInfo.InvariantCulture)]);
            Assert.True(run.WaitForExit(TimeSpan.FromSeconds(10)), run.Output);
            var gone = await Harness.WaitUntil(() => !IsCommand(command), TimeSpan.FromSeconds(5));
            Assert.True(gone, $"the command (pid {command}) outlived a SIGKILLed rdnet run\n{run.Output}");
            Assert.True(File.Exists(mark), $"the command did not get SIGTERM (killed without it)\n{run.Output}");
            Assert.Equal("TERM\n", File.ReadAllText(mark));
        }
        finally
        {
            // Its namespace may be gone already, out of the stand-in's reach.
            if (IsCommand(command)) Harness.Run("kill", ["-KILL", command.ToString(CultureInfo.InvariantCulture)]);
            File.Delete(mark);
        }
    }

    private static bool IsCommand(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sh\0-c\0trap ", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    private static ulong SignalMask(string status, string field)
    {
        var line = status.Split('\n').Single(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return ulong.Parse(line[(field.Length + 1)..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
