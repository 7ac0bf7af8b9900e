using System.Net.Sockets;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// The foundation slice as a user runs it: host-switch in a loopback-only namespace, vm-switch (started under its
/// role name, with Go-style flags) owning eth0 in a guest namespace, udhcpc getting the lease, ping to the gateway.
/// </summary>
public sealed class NamespaceDhcpPingTests
{
    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(40);

    private static async Task<string> WaitForAddress(NetworkSandbox sb, string cidr)
    {
        var ok = await Harness.WaitUntil(() => sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains($"inet {cidr} ", StringComparison.Ordinal), LeaseTimeout);
        Assert.True(ok, $"eth0 never got {cidr}\n{sb.Diagnostics()}");
        return sb.InGuest("ip", "-o", "link", "show", "dev", "eth0").Stdout;
    }

    private static async Task WaitForSocket(NetworkSandbox sb)
    {
        Assert.True(await Harness.WaitUntil(() => File.Exists(sb.SocketPath), TimeSpan.FromSeconds(30)), $"host-switch never listened\n{sb.Diagnostics()}");
    }

    private static string Neighbour(NetworkSandbox sb, string ip) => sb.InGuest("ip", "neigh", "show", ip).Stdout;

    [Fact]
    public async Task A_namespace_joins_by_dhcp_gets_the_static_lease_and_pings_the_gateway()
    {
        using var sb = new NetworkSandbox();
        var hostSwitch = sb.StartHostSwitch();
        await WaitForSocket(sb);
        sb.StartVmSwitch();

        var link = await WaitForAddress(sb, "192.168.127.2/24");
        // Both switches run socket completions on the epoll threads, and the programs they start do not inherit the
        // variable that turned it on (udhcpc's script records it).
        Assert.Contains("Socket completions run on the epoll threads", hostSwitch.Output, StringComparison.Ordinal);
        Assert.Contains("Socket completions run on the epoll threads", Harness.ReadShared(Path.Combine(sb.Dir, "vm-switch.log")), StringComparison.Ordinal);
        Assert.Contains("inline=unset", File.ReadAllText(sb.DhcpEnvFile), StringComparison.Ordinal);
        Assert.Contains("link/ether 5a:94:ef:e4:0c:ee", link, StringComparison.Ordinal);
        Assert.Contains("mtu 1500", link, StringComparison.Ordinal);
        Assert.Contains("default via 192.168.127.1 dev eth0", sb.InGuest("ip", "route", "show", "default").Stdout, StringComparison.Ordinal);
        Assert.Contains("UP", sb.InGuest("ip", "-o", "link", "show", "dev", "lo").Stdout, StringComparison.Ordinal);

        var env = File.ReadAllText(sb.DhcpEnvFile);
        Assert.Contains("dns=192.168.127.1", env, StringComparison.Ordinal);
        Assert.Contains("search=e2e.test", env, StringComparison.Ordinal);
        Assert.Contains("serverid=192.168.127.1", env, StringComparison.Ordinal);

        var ping = sb.InGuest("ping", "-c", "3", "-W", "2", "192.168.127.1");
        Assert.True(ping.ExitCode == 0, $"ping failed: {ping}\n{sb.Diagnostics()}");
        Assert.Contains("3 received", ping.Stdout, StringComparison.Ordinal);

        // .254 is answered by ARP with the gateway's MAC; a random .77 is not answered at all.
        sb.InGuest("ping", "-c", "1", "-W", "1", "192.168.127.254");
        Assert.Contains("lladdr 5a:94:ef:e4:0c:dd", Neighbour(sb, "192.168.127.254"), StringComparison.Ordinal);
        sb.InGuest("ping", "-c", "1", "-W", "1", "192.168.127.77");
        var n77 = Neighbour(sb, "192.168.127.77");
        Assert.DoesNotContain("lladdr", n77, StringComparison.Ordinal);

        // The Go-style -logfile=... flag took effect.
        Assert.True(File.Exists(Path.Combine(sb.Dir, "vm-switch.log")), "vm-switch -logfile=... was not honoured");
        Assert.Contains("lease of 192.168.127.2 obtained", File.ReadAllText(Path.Combine(sb.Dir, "vm-switch.log")), StringComparison.Ordinal);

        // With -debug, vm-switch logs its traffic summary (per-port frames and every drop counter, links included)
        // every stats-interval, so frames lost inside vm-switch are visible.
        var summary = await Harness.WaitUntil(() => Harness.ReadShared(Path.Combine(sb.Dir, "vm-switch.log")).Contains("Traffic: tap: in ", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15));
        Assert.True(summary, "vm-switch -debug never logged its traffic summary\n" + Harness.ReadShared(Path.Combine(sb.Dir, "vm-switch.log")));
    }

    [Fact]
    public async Task A_custom_subnet_gives_the_matching_addresses()
    {
        using var sb = new NetworkSandbox();
        var pcap = Path.Combine(sb.Dir, "switch.pcap");
        sb.StartHostSwitch("--subnet", "10.77.8.0/24", "--pcap", pcap);
        await WaitForSocket(sb);
        var vm = sb.StartVmSwitch("-subnet=10.77.8.0/24", "-trace-packets");
        await WaitForAddress(sb, "10.77.8.2/24");
        Assert.Contains("default via 10.77.8.1 dev eth0", sb.InGuest("ip", "route", "show", "default").Stdout, StringComparison.Ordinal);
        var ping = sb.InGuest("ping", "-c", "3", "-W", "2", "10.77.8.1");
        Assert.True(ping.ExitCode == 0, $"ping failed: {ping}\n{sb.Diagnostics()}");
        sb.InGuest("ping", "-c", "1", "-W", "1", "10.77.8.254");
        Assert.Contains("lladdr 5a:94:ef:e4:0c:dd", Neighbour(sb, "10.77.8.254"), StringComparison.Ordinal);

        // Every switched frame was captured, readable by tcpdump.
        var dump = "";
        Assert.True(await Harness.WaitUntil(() => (dump = Harness.Run("tcpdump", ["-n", "-r", pcap]).Stdout).Contains("ICMP echo reply", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), dump);
        Assert.Contains("BOOTP/DHCP, Reply", dump, StringComparison.Ordinal);
        Assert.Contains("Reply 10.77.8.254 is-at 5a:94:ef:e4:0c:dd", dump, StringComparison.Ordinal);
        // -trace-packets decoded every switched frame into vm-switch's log.
        Assert.Contains("ARP 10.77.8.254 is-at 5a:94:ef:e4:0c:dd", vm.Output, StringComparison.Ordinal);
        Assert.Contains("ICMP type 0 code 0", vm.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_traffic_resumes_after_host_switch_restarts_without_restarting_vm_switch()
    {
        using var sb = new NetworkSandbox();
        var host = sb.StartHostSwitch();
        await WaitForSocket(sb);
        var vm = sb.StartVmSwitch();
        await WaitForAddress(sb, "192.168.127.2/24");
        Assert.Equal(0, sb.InGuest("ping", "-c", "1", "-W", "2", "192.168.127.1").ExitCode);

        host.Terminate(TimeSpan.FromSeconds(10));
        Assert.True(await Harness.WaitUntil(() => !File.Exists(sb.SocketPath), TimeSpan.FromSeconds(10)), "host-switch left its socket behind");
        sb.StartHostSwitch();
        await WaitForSocket(sb);
        var back = await Harness.WaitUntil(() => sb.InGuest("ping", "-c", "1", "-W", "1", "192.168.127.1").ExitCode == 0, TimeSpan.FromSeconds(30));
        Assert.True(back, $"no ping after the host came back\n{sb.Diagnostics()}");
        Assert.False(vm.HasExited);
    }

    [Fact]
    public async Task Sigterm_shuts_host_switch_down_cleanly_and_removes_its_socket()
    {
        using var sb = new NetworkSandbox();
        var host = sb.StartHostSwitch();
        await WaitForSocket(sb);
        host.Terminate(TimeSpan.FromSeconds(15));
        Assert.Equal(0, host.ExitCode);
        Assert.False(File.Exists(sb.SocketPath));
    }

    [Fact]
    public void Vm_switch_refuses_to_start_when_the_interface_already_exists()
    {
        using var sb = new NetworkSandbox();
        Harness.Require(Harness.Ip("-n", sb.GuestNs, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"), "veth eth0");
        var r = Harness.Run("ip", ["netns", "exec", sb.GuestNs, sb.VmSwitchLink, "-logfile=/dev/stdout", "--connect", $"unix://{sb.SocketPath}"], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("eth0 already exists", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Vm_switch_with_no_inherited_descriptor_exits_with_one_clear_error()
    {
        using var sb = new NetworkSandbox();
        var r = Harness.Run("ip", ["netns", "exec", sb.GuestNs, sb.VmSwitchLink, "-logfile=/dev/stdout", "-vsock-fd", "57"], TimeSpan.FromSeconds(60));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("fd://57", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_peer_that_sends_a_bad_length_prefix_loses_only_its_own_link()
    {
        using var sb = new NetworkSandbox();
        sb.StartHostSwitch();
        await WaitForSocket(sb);
        sb.StartVmSwitch();
        await WaitForAddress(sb, "192.168.127.2/24");
        // A second, hostile client on the same switch: 0xFFFF is above the maximum frame size.
        using (var evil = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await evil.ConnectAsync(new UnixDomainSocketEndPoint(sb.SocketPath));
            await evil.SendAsync(new byte[] { 0xFF, 0xFF, 1, 2, 3, 4 });
            var buf = new byte[16];
            var closed = await Task.WhenAny(evil.ReceiveAsync(buf), Task.Delay(10_000));
            Assert.True(closed is Task<int> { Result: 0 }, "host-switch did not close the bad link");
        }
        Assert.Equal(0, sb.InGuest("ping", "-c", "2", "-W", "2", "192.168.127.1").ExitCode);
    }
}

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("host-switch --subnet 300.1.1.0/24", "expected an IPv4 CIDR")]
    [InlineData("host-switch --subnet 192.168.127.0/28", "prefix length from 8 to 24")]
    [InlineData("host-switch -port-forward=127.0.0.1:99999=192.168.127.2:22", "HostIP:Port=GuestIP:Port")]
    [InlineData("host-switch --listen http://x", "unix:///path")]
    [InlineData("vm-switch --tap-mac-address 5a:94:ef:e4:0c", "six hex octets")]
    [InlineData("vm-switch --tap-interface averyveryverylongname", "1-15 characters")]
    [InlineData("wsl-proxy -upstreamAddress=not-an-ip", "IPv4 address")]
    [InlineData("network-setup -debug", "--vm-switch-path")]
    [InlineData("network-setup -vm-switch-path /x --handshake-signature newest", "expected current or original")]
    [InlineData("network-setup -vm-switch-path /x --veth-host-address 192.168.1.1", "like 192.168.1.1/24")]
    [InlineData("network-setup -vm-switch-path /x --veth-ns-address 10.0.0.2/24", "same subnet")]
    [InlineData("network-setup -vm-switch-path /x --handshake-listen fd://3", "must be listenable")]
    [InlineData("network-setup -vm-switch-path /x --netns-name a/b", "plain name")]
    [InlineData("host-switch --vm-handshake unix:///tmp/x.sock", "go together")]
    [InlineData("host-switch --vm-data-listen vsock://any:6656", "go together")]
    public void A_bad_flag_fails_naming_the_expected_format(string args, string expected)
    {
        var r = Harness.Run(Harness.RdnetPath, args.Split(' '));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Go_style_flags_of_the_original_are_accepted()
    {
        // -debug=true / -name=value parse: network-setup gets as far as checking the vm-switch path it was given.
        var r = Harness.Run(Harness.RdnetPath, ["network-setup", "-debug=true", "-vm-switch-path=/nonexistent/vm-switch", "-logfile=/dev/stdout", "-unshare-arg", "/usr/local/bin/wsl-init", "-tap-interface", "eth0"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--vm-switch-path /nonexistent/vm-switch: no such file", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_role_documents_its_flags_in_help()
    {
        foreach (var (role, flags) in new[]
        {
            ("host-switch", new[] { "--debug", "--subnet", "--port-forward", "--listen" }),
            ("vm-switch", new[] { "--debug", "--trace-packets", "--tap-interface", "--vsock-fd", "--dhcp-script", "--tap-mac-address", "--subnet", "--logfile" }),
            ("network-setup", new[] { "--debug", "--trace-packets", "--namespace-service", "--tap-interface", "--subnet", "--tap-mac-address", "--dhcp-script", "--vm-switch-path", "--vm-switch-logfile", "--unshare-arg", "--logfile", "--handshake-listen", "--host-data", "--netns-name", "--pid-file" }),
            ("wsl-proxy", new[] { "--debug", "--logfile", "--socketFile", "--upstreamAddress", "--udpBuffer" }),
        })
        {
            var r = Harness.Run(Harness.RdnetPath, [role, "--help"]);
            Assert.Equal(0, r.ExitCode);
            foreach (var f in flags) Assert.Contains(f, r.Stdout, StringComparison.Ordinal);
        }
    }
}

/// <summary>vm-switch's data link arriving as an inherited descriptor, the way network-setup hands it over (spec §3.4).</summary>
public sealed partial class InheritedDescriptorTests
{
    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [Fact]
    public async Task Vm_switch_uses_an_inherited_descriptor_as_its_link_and_exits_1_when_it_closes()
    {
        using var sb = new NetworkSandbox();
        var host = sb.StartHostSwitch();
        Assert.True(await Harness.WaitUntil(() => File.Exists(sb.SocketPath), TimeSpan.FromSeconds(30)), sb.Diagnostics());
        ChildProcess vm;
        using (var link = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await link.ConnectAsync(new UnixDomainSocketEndPoint(sb.SocketPath));
            // A copy without FD_CLOEXEC is inherited by the child, as network-setup's ExtraFiles are.
            var fd = fcntl((int)link.Handle, 0 /* F_DUPFD */, 100);
            Assert.True(fd >= 100);
            vm = sb.StartIn(sb.GuestNs, "vm-switch", sb.VmSwitchLink, "-logfile=/dev/stdout", "-dhcp-script", sb.DhcpScript, "-vsock-fd", fd.ToString(System.Globalization.CultureInfo.InvariantCulture));
            close(fd);
        }
        var ok = await Harness.WaitUntil(() => sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), TimeSpan.FromSeconds(40));
        Assert.True(ok, sb.Diagnostics());
        Assert.Equal(0, sb.InGuest("ping", "-c", "2", "-W", "2", "192.168.127.1").ExitCode);

        // An inherited descriptor cannot be dialled again: when host-switch goes away, vm-switch says so and exits 1.
        host.Terminate(TimeSpan.FromSeconds(10));
        Assert.True(vm.WaitForExit(TimeSpan.FromSeconds(20)), sb.Diagnostics());
        Assert.Equal(1, vm.ExitCode);
        Assert.Contains("cannot be dialled again", vm.Output, StringComparison.Ordinal);
    }
}
