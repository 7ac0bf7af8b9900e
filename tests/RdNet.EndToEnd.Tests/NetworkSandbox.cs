using System.Globalization;
using RdNet.Transport.Linux;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// Two network namespaces made by the test: one for host-switch (only loopback, so nothing it does can leave the
/// machine) and one for the guest (vm-switch's tap). The data link between them is a unix socket in a temp folder.
/// Everything is removed on Dispose: processes, namespaces, files.
/// </summary>
public sealed class NetworkSandbox : IDisposable
{
    private readonly List<ChildProcess> _processes = [];

    public NetworkSandbox()
    {
        if (Environment.UserName != "root")
            throw new InvalidOperationException("end-to-end tests create network namespaces and must run as root");
        var id = Random.Shared.Next(0, 0xFFFFFF).ToString("x6", CultureInfo.InvariantCulture);
        HostNs = $"rdne-h-{id}";
        GuestNs = $"rdne-g-{id}";
        Dir = Directory.CreateTempSubdirectory("rdne-").FullName;
        Harness.Require(Harness.Ip("netns", "add", HostNs), "ip netns add");
        Harness.Require(Harness.Ip("netns", "add", GuestNs), "ip netns add");
        Harness.Require(Harness.Ip("-n", HostNs, "link", "set", "lo", "up"), "lo up");
        SocketPath = Path.Combine(Dir, "host-switch.sock");
        DhcpScript = Path.Combine(Dir, "dhcp.sh");
        DhcpEnvFile = Path.Combine(Dir, "dhcp.env");
        // rdnet up's udhcpc script (ip(8) only, never /etc/resolv.conf), also recording what udhcpc passed it.
        File.WriteAllText(DhcpScript, UdhcpcScript.Build(
            $"echo \"event=$1 ip=$ip mask=$mask router=$router dns=$dns mtu=$mtu search=$search lease=$lease serverid=$serverid inline=${{DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS-unset}}\" >> \"{DhcpEnvFile}\""));
        File.SetUnixFileMode(DhcpScript, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // vm-switch is started through a link named after the role, exactly as Rancher Desktop invokes it.
        VmSwitchLink = Path.Combine(Dir, "vm-switch");
        File.CreateSymbolicLink(VmSwitchLink, Harness.RdnetPath);
    }

    public string HostNs { get; }
    public string GuestNs { get; }
    public string Dir { get; }
    public string SocketPath { get; }
    public string DhcpScript { get; }
    public string DhcpEnvFile { get; }
    public string VmSwitchLink { get; }

    public ChildProcess StartIn(string ns, string name, string program, params string[] args)
    {
        var p = new ChildProcess("ip", ["netns", "exec", ns, program, .. args], name);
        _processes.Add(p);
        return p;
    }

    /// <summary>
    /// host-switch in the loopback-only host namespace. Safety nets on top of the namespace: egress is allowed only to
    /// 127.0.0.0/8 (tests add their own test-made ranges), and DNS never reaches the real resolver: without a test's
    /// own --dns-upstream it goes to 127.0.0.1:9, where nothing answers.
    /// </summary>
    public ChildProcess StartHostSwitch(params string[] extra)
    {
        string[] dns = extra.Contains("--dns-upstream") ? [] : ["--dns-upstream", "127.0.0.1:9"];
        return StartIn(HostNs, "host-switch", Harness.RdnetPath,
            ["host-switch", "--listen", $"unix://{SocketPath}", "--search-domain", "e2e.test", "--outbound-allow", "127.0.0.0/8", .. dns, .. extra]);
    }

    public ChildProcess StartVmSwitch(params string[] extra) =>
        StartIn(GuestNs, "vm-switch", VmSwitchLink, ["-debug=true", $"-logfile={Path.Combine(Dir, "vm-switch.log")}", "-dhcp-script", DhcpScript, "--connect", $"unix://{SocketPath}", .. extra]);

    public CommandResult InGuest(params string[] command) => Harness.Run("ip", ["netns", "exec", GuestNs, .. command]);

    public string Diagnostics() =>
        string.Join("\n", _processes.Select(p => $"--- {p.Name} (exited: {p.HasExited}) ---\n{p.Output}"))
        + "\n--- dhcp.env ---\n" + (File.Exists(DhcpEnvFile) ? File.ReadAllText(DhcpEnvFile) : "(none)");

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        // Anything still running inside (udhcpc outlives a SIGKILLed vm-switch) goes with its namespace.
        foreach (var ns in new[] { GuestNs, HostNs })
        {
            foreach (var pid in Harness.Run("ip", ["netns", "pids", ns]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Harness.Run("kill", ["-9", pid]);
        }
        Harness.Ip("netns", "del", GuestNs);
        Harness.Ip("netns", "del", HostNs);
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
