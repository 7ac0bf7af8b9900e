using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// network-setup as Rancher Desktop runs it, on this machine: host-switch in its loopback-only namespace does the
/// handshake over unix sockets in a shared temp folder; network-setup runs in a namespace the test made to stand for
/// the VM's default namespace (so nothing is added to the machine's own network) and creates the guest namespace
/// (unique name per run) with the veth pair, init (a test script) and vm-switch inside.
/// </summary>
public sealed class NetworkSetupTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(40);
    private readonly NetworkSandbox _sb = new();
    private readonly List<ChildProcess> _processes = [];

    private readonly ITestOutputHelper _output;

    public NetworkSetupTests(ITestOutputHelper output)
    {
        _output = output;
        GuestNs = "rdne-n-" + _sb.HostNs["rdne-h-".Length..];
        InitScript = Path.Combine(_sb.Dir, "init.sh");
        InitOut = Path.Combine(_sb.Dir, "init.out");
        PidFile = Path.Combine(_sb.Dir, "wsl-init.pid");
        // Stands for wsl-init as PID 1 of the new PID namespace: records where it runs, stops on SIGTERM.
        File.WriteAllText(InitScript, $$"""
            #!/bin/sh
            echo "pid=$$ netns=$(readlink /proc/self/ns/net)" > "{{InitOut}}"
            trap 'echo stopped >> "{{InitOut}}"; exit 0' TERM
            while :; do sleep 0.2; done
            """.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(InitScript, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        NetworkSetupLink = Path.Combine(_sb.Dir, "network-setup");
        File.CreateSymbolicLink(NetworkSetupLink, Harness.RdnetPath);
    }

    /// <summary>The namespace network-setup creates (the stand-in default namespace is the sandbox's guest namespace).</summary>
    private string GuestNs { get; }
    private string DefaultNs => _sb.GuestNs;
    private string InitScript { get; }
    private string InitOut { get; }
    private string PidFile { get; }
    private string NetworkSetupLink { get; }
    private string HandshakeSocket => Path.Combine(_sb.Dir, "hs.sock");
    private string DataSocket => Path.Combine(_sb.Dir, "data.sock");

    private ChildProcess StartHostSwitch() =>
        _sb.StartIn(_sb.HostNs, "host-switch", Harness.RdnetPath,
            "host-switch", "--vm-handshake", $"unix://{HandshakeSocket}", "--vm-data-listen", $"unix://{DataSocket}", "--search-domain", "e2e.test",
            // Loopback-only namespace; DNS never leaves it (nothing in these tests resolves names).
            "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:5353", "--debug", "--pcap", Path.Combine(_sb.Dir, "host.pcap"));

    /// <summary>nsenter --net keeps network-setup in the machine's mount namespace, as in the VM, so its `ip netns add` is visible.</summary>
    private ChildProcess StartNetworkSetup(params string[] extra)
    {
        var p = new ChildProcess("nsenter", [$"--net=/run/netns/{DefaultNs}", NetworkSetupLink,
            "-debug", "-logfile=/dev/stdout",
            "-vm-switch-path", _sb.VmSwitchLink, "-vm-switch-logfile", Path.Combine(_sb.Dir, "vm-switch.log"),
            "-dhcp-script", _sb.DhcpScript, "-unshare-arg", InitScript,
            "--handshake-listen", $"unix://{HandshakeSocket}", "--host-data", $"unix://{DataSocket}",
            "--netns-name", GuestNs, "--pid-file", PidFile, .. extra], "network-setup");
        _processes.Add(p);
        return p;
    }

    private CommandResult InNs(string ns, params string[] command) => Harness.Run("ip", ["netns", "exec", ns, .. command]);

    private string Diagnostics() =>
        _sb.Diagnostics() + string.Join("\n", _processes.Select(p => $"--- {p.Name} (exited: {p.HasExited}) ---\n{p.Output}"))
        + "\n--- vm-switch.log ---\n" + (File.Exists(Path.Combine(_sb.Dir, "vm-switch.log")) ? File.ReadAllText(Path.Combine(_sb.Dir, "vm-switch.log")) : "(none)");

    private static string NamespaceInode(string path) => Harness.Run("stat", ["-L", "-c", "%i", path]).Stdout.Trim();

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        // Whatever network-setup could not stop (a failed test) goes with its namespace.
        if (File.Exists($"/run/netns/{GuestNs}"))
            foreach (var pid in Harness.Run("ip", ["netns", "pids", GuestNs]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Harness.Run("kill", ["-KILL", pid]);
        Harness.Ip("netns", "del", GuestNs);
        _sb.Dispose();
    }

    [Fact]
    public async Task Handshake_namespace_veth_init_and_dhcp_come_up_and_survive_a_host_switch_restart()
    {
        // host-switch first: it probes until network-setup answers.
        var host = StartHostSwitch();
        await Task.Delay(500);
        var clock = Stopwatch.StartNew();
        var setup = StartNetworkSetup();

        // The pid file appears once the handshake is done and the namespace is up; it names unshare, whose child is init.
        Assert.True(await Harness.WaitUntil(() => File.Exists(PidFile) && File.ReadAllText(PidFile).Length > 0, Long), $"no pid file\n{Diagnostics()}");
        _output.WriteLine($"network-setup start -> pid file: {clock.ElapsedMilliseconds} ms");
        var pidText = File.ReadAllText(PidFile);
        Assert.DoesNotContain("\n", pidText, StringComparison.Ordinal);
        var pid = int.Parse(pidText, CultureInfo.InvariantCulture);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PidFile));
        Assert.Contains("unshare", File.ReadAllText($"/proc/{pid}/cmdline"), StringComparison.Ordinal);

        // init runs as PID 1 of its own PID namespace, inside the named namespace network-setup created.
        var nsInode = NamespaceInode($"/run/netns/{GuestNs}");
        Assert.True(await Harness.WaitUntil(() => File.Exists(InitOut) && File.ReadAllText(InitOut).Contains("netns=", StringComparison.Ordinal), Long), Diagnostics());
        Assert.Equal($"pid=1 netns=net:[{nsInode}]", File.ReadAllLines(InitOut)[0]);
        Assert.NotEqual(NamespaceInode($"/run/netns/{DefaultNs}"), nsInode);

        // The veth pair: our user's defaults.
        Assert.Contains("inet 192.168.1.1/24", InNs(DefaultNs, "ip", "-o", "addr", "show", "dev", "veth-rd0").Stdout, StringComparison.Ordinal);
        Assert.Contains("inet 192.168.1.2/24", InNs(GuestNs, "ip", "-o", "addr", "show", "dev", "veth-rd1").Stdout, StringComparison.Ordinal);

        // vm-switch in the namespace got eth0 its lease over the relayed data link.
        var leased = await Harness.WaitUntil(() => InNs(GuestNs, "ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), Long);
        Assert.True(leased, $"eth0 never got .2\n{Diagnostics()}");
        _output.WriteLine($"network-setup start -> eth0 leased: {clock.ElapsedMilliseconds} ms");

        // The namespace end of the veth answers from the (stand-in) default namespace; the guest reaches the gateway.
        var vethPing = InNs(DefaultNs, "ping", "-c", "2", "-W", "2", "192.168.1.2");
        Assert.True(vethPing.ExitCode == 0, $"{vethPing}\n{Diagnostics()}");
        var gwPing = InNs(GuestNs, "ping", "-c", "2", "-W", "2", "192.168.127.1");
        Assert.True(gwPing.ExitCode == 0, $"{gwPing}\n{Diagnostics()}");

        // host-switch is killed (no orderly close) and started again: the handshake is redone, network-setup and
        // vm-switch stay up.
        Harness.Run("kill", ["-KILL", host.Pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(host.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.NotEqual(0, InNs(GuestNs, "ping", "-c", "1", "-W", "1", "192.168.127.1").ExitCode);
        clock.Restart();
        StartHostSwitch();
        var back = await Harness.WaitUntil(() => InNs(GuestNs, "ping", "-c", "1", "-W", "1", "192.168.127.1").ExitCode == 0, Long);
        Assert.True(back, $"no ping after host-switch restarted\n{Diagnostics()}");
        _output.WriteLine($"host-switch restart -> guest pings .1 again: {clock.ElapsedMilliseconds} ms");
        Assert.False(setup.HasExited, Diagnostics());
        Assert.Equal(1, CountOccurrences(setup.Output, "Started vm-switch in"));
        Assert.Equal(2, CountOccurrences(setup.Output, "data link to unix://"));

        // vm-switch dying is repaired too: network-setup starts it again on a fresh socketpair; eth0 comes back by DHCP.
        var vmPid = int.Parse(Regex.Match(setup.Output, @"Started vm-switch in \S+ \(pid (\d+)\)").Groups[1].Value, CultureInfo.InvariantCulture);
        clock.Restart();
        Harness.Run("kill", ["-KILL", vmPid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(await Harness.WaitUntil(() => CountOccurrences(setup.Output, "Started vm-switch in") == 2, Long), Diagnostics());
        Assert.Contains("vm-switch exited with code 137", setup.Output, StringComparison.Ordinal);
        var again = await Harness.WaitUntil(() => InNs(GuestNs, "ping", "-c", "1", "-W", "1", "192.168.127.1").ExitCode == 0, Long);
        Assert.True(again, $"no ping after vm-switch was restarted\n{Diagnostics()}");
        _output.WriteLine($"vm-switch killed -> restarted, leased, guest pings .1 again: {clock.ElapsedMilliseconds} ms");
        // The killed vm-switch could not stop its udhcpc; the new vm-switch killed that stale one before starting its own.
        Assert.True(await Harness.WaitUntil(() => DhcpClientsIn(GuestNs) == 1, Long), $"{DhcpClientsIn(GuestNs)} udhcpc in {GuestNs}\n{Diagnostics()}");

        // SIGTERM: everything network-setup started is stopped and removed.
        setup.Terminate(TimeSpan.FromSeconds(20));
        Assert.True(setup.ExitCode == 0, Diagnostics());
        Assert.False(Directory.Exists($"/proc/{pid}"), "unshare/init still running");
        Assert.Contains("stopped", File.ReadAllText(InitOut), StringComparison.Ordinal);
        Assert.False(File.Exists(PidFile));
        Assert.NotEqual(0, InNs(DefaultNs, "ip", "link", "show", "dev", "veth-rd0").ExitCode);
        Assert.False(File.Exists($"/run/netns/{GuestNs}"), Diagnostics());
        // Nothing that ran in the namespace outlives it.
        Assert.DoesNotContain(ProcessesMentioning(_sb.Dir), c => c.Contains("udhcpc", StringComparison.Ordinal));
    }

    private static int DhcpClientsIn(string ns) =>
        Harness.Run("ip", ["netns", "pids", ns]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Count(pid => File.Exists($"/proc/{pid}/comm") && Harness.ReadShared($"/proc/{pid}/comm").Trim() == "udhcpc");

    private static List<string> ProcessesMentioning(string text)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmd.Contains(text, StringComparison.Ordinal)) found.Add($"{Path.GetFileName(dir)}: {cmd}");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    [Fact]
    public async Task Current_rancher_desktop_addresses_and_the_original_phrase_are_selectable_and_a_stale_veth_is_removed()
    {
        // A veth left by a previous run in the default namespace.
        Harness.Require(Harness.Ip("-n", DefaultNs, "link", "add", "veth-rd-wsl", "type", "veth", "peer", "name", "stale-peer"), "stale veth");
        // And a namespace of the same name.
        Harness.Require(Harness.Ip("netns", "add", GuestNs), "stale namespace");
        Harness.Require(Harness.Ip("-n", GuestNs, "link", "add", "stale0", "type", "veth", "peer", "name", "stale1"), "stale namespace content");
        StartHostSwitch();
        var setup = StartNetworkSetup("--veth-host-name", "veth-rd-wsl", "--veth-host-address", "192.168.143.2/24",
            "--veth-ns-name", "veth-rd-ns", "--veth-ns-address", "192.168.143.1/24", "--handshake-signature", "original");
        Assert.True(await Harness.WaitUntil(() => File.Exists(PidFile), Long), Diagnostics());
        Assert.Contains("Removed a stale veth-rd-wsl", setup.Output, StringComparison.Ordinal);
        Assert.Contains($"Removed a stale namespace {GuestNs}", setup.Output, StringComparison.Ordinal);
        Assert.NotEqual(0, InNs(GuestNs, "ip", "link", "show", "dev", "stale0").ExitCode);
        Assert.Contains("inet 192.168.143.2/24", InNs(DefaultNs, "ip", "-o", "addr", "show", "dev", "veth-rd-wsl").Stdout, StringComparison.Ordinal);
        Assert.Contains("inet 192.168.143.1/24", InNs(GuestNs, "ip", "-o", "addr", "show", "dev", "veth-rd-ns").Stdout, StringComparison.Ordinal);
        Assert.NotEqual(0, InNs(DefaultNs, "ip", "link", "show", "dev", "stale-peer").ExitCode);
        Assert.True(await Harness.WaitUntil(() => _sb.Diagnostics().Contains("answered with the Original phrase", StringComparison.Ordinal), Long), Diagnostics());
        var ping = InNs(DefaultNs, "ping", "-c", "1", "-W", "2", "192.168.143.1");
        Assert.True(ping.ExitCode == 0, $"{ping}\n{Diagnostics()}");
    }

    [Fact]
    public void A_vm_switch_path_that_does_not_exist_is_one_clear_fatal_line()
    {
        var r = Harness.Run("nsenter", [$"--net=/run/netns/{DefaultNs}", NetworkSetupLink, "-logfile=/dev/stdout", "-vm-switch-path", "/nonexistent/vm-switch",
            "--handshake-listen", $"unix://{HandshakeSocket}", "--netns-name", GuestNs]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--vm-switch-path /nonexistent/vm-switch: no such file", r.Stdout + r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists($"/run/netns/{GuestNs}"));
    }

    private static int CountOccurrences(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
