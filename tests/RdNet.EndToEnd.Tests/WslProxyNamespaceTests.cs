using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// wsl-proxy as Rancher Desktop runs it, in namespaces the test creates: mappings written to the control socket
/// become listeners in the stand-in default namespace, relayed over the veth pair to servers in the upstream
/// namespace; curl and a UDP client in the default namespace reach them on localhost; removal closes them.
/// </summary>
public sealed class WslProxyNamespaceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static int RandomPort() => Random.Shared.Next(20000, 30000);

    private static async Task WaitForSocket(WslProxySandbox sb)
    {
        Assert.True(await Harness.WaitUntil(() => File.Exists(sb.SocketPath), Wait), $"wsl-proxy never listened\n{sb.Diagnostics()}");
    }

    private static string Mapping(bool remove, string ports) => $"{{\"remove\":{(remove ? "true" : "false")},\"ports\":{{{ports}}},\"connectAddrs\":null}}";

    private static string Binding(int port, string proto, string hostIp) => $"\"{port}/{proto}\":[{{\"HostIp\":\"{hostIp}\",\"HostPort\":\"{port}\"}}]";

    private static CommandResult Curl(WslProxySandbox sb, string url) => sb.InDefault("curl", "-sS", "-g", "-m", "5", url);

    /// <summary>One UDP request from the stand-in default namespace; the reply and where it came from.</summary>
    private static async Task<(string Reply, IPEndPoint From)?> UdpRequest(WslProxySandbox sb, IPAddress to, int port, string message)
    {
        using var s = WslProxySandbox.SocketIn(sb.DefaultNs, to.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(to.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0));
        await s.SendToAsync(Encoding.UTF8.GetBytes(message), new IPEndPoint(to, port));
        var buf = new byte[65536];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            var r = await s.ReceiveFromAsync(buf, new IPEndPoint(to.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0), cts.Token);
            return (Encoding.UTF8.GetString(buf, 0, r.ReceivedBytes), (IPEndPoint)r.RemoteEndPoint);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Fact]
    public async Task Published_tcp_and_udp_ports_are_reached_on_localhost_from_the_default_namespace_and_removal_closes_them()
    {
        using var sb = new WslProxySandbox();
        var http = RandomPort();
        var echo = http + 1;
        var udp = http + 2;
        sb.StartUpstreamHttp(http, "hello from the rancher-desktop namespace");
        sb.StartUpstreamEchoAfterEof(echo);
        sb.StartUpstreamUdpEcho(udp);
        var proxy = sb.StartWslProxy();
        await WaitForSocket(sb);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(sb.SocketPath));

        // Before any mapping nothing listens.
        Assert.Equal(7, Curl(sb, $"http://localhost:{http}/").ExitCode);

        // One bad document first: refused with its reason, nothing else affected.
        await sb.SendMapping("{\"remove\":false,\"ports\":{\"1/tcp\":");
        await sb.SendMapping(Mapping(false, string.Join(",", Binding(http, "tcp", "0.0.0.0"), Binding(echo, "tcp", "127.0.0.1"), Binding(udp, "udp", ""))));

        CommandResult curl = null!;
        Assert.True(await Harness.WaitUntil(() => (curl = Curl(sb, $"http://localhost:{http}/")).ExitCode == 0, Wait), $"curl localhost failed: {curl}\n{sb.Diagnostics()}");
        Assert.Equal("hello from the rancher-desktop namespace", curl.Stdout);
        // 0.0.0.0 means every address, IPv6 included (a dual-stack listener), and the veth address of the default side.
        var v6 = Curl(sb, $"http://[::1]:{http}/");
        Assert.True(v6.ExitCode == 0, $"curl [::1] failed: {v6}\n{sb.Diagnostics()}");
        Assert.Equal(0, Curl(sb, $"http://192.168.143.2:{http}/").ExitCode);
        // 127.0.0.1 means loopback only.
        Assert.Equal(7, Curl(sb, $"http://192.168.143.2:{echo}/").ExitCode);

        // Half-close through the relay: the upstream answers only after our FIN.
        using (var c = WslProxySandbox.SocketIn(sb.DefaultNs, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await c.ConnectAsync(new IPEndPoint(IPAddress.Loopback, echo));
            var payload = new string('p', 200_000);
            await c.SendAsync(Encoding.UTF8.GetBytes(payload));
            c.Shutdown(SocketShutdown.Send);
            var all = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = await c.ReceiveAsync(buf).WaitAsync(Wait)) > 0) all.Write(buf, 0, n);
            Assert.Equal("echo:" + payload, Encoding.UTF8.GetString(all.ToArray()));
        }

        // UDP both ways: the reply comes back to the asking client, from the address it asked.
        var reply = await UdpRequest(sb, IPAddress.Loopback, udp, "ping-v4");
        Assert.True(reply is not null, $"no UDP reply\n{sb.Diagnostics()}");
        Assert.Equal("echo:ping-v4", reply.Value.Reply);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, udp), reply.Value.From);
        var reply6 = await UdpRequest(sb, IPAddress.IPv6Loopback, udp, "ping-v6");
        Assert.Equal("echo:ping-v6", reply6?.Reply);

        var log = proxy.Output;
        Assert.Contains("malformed JSON", log, StringComparison.Ordinal);
        Assert.Contains($"Listening on tcp/*:{http}, relaying to {WslProxySandbox.UpstreamAddress}:{http}", log, StringComparison.Ordinal);

        // Remove exactly the TCP mappings: connection refused; the UDP mapping still answers.
        await sb.SendMapping(Mapping(true, string.Join(",", Binding(http, "tcp", "0.0.0.0"), Binding(echo, "tcp", "127.0.0.1"))));
        Assert.True(await Harness.WaitUntil(() => (curl = Curl(sb, $"http://localhost:{http}/")).ExitCode == 7, Wait), $"still reachable after remove: {curl}\n{sb.Diagnostics()}");
        using (var c = WslProxySandbox.SocketIn(sb.DefaultNs, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(async () => await c.ConnectAsync(new IPEndPoint(IPAddress.Loopback, http)));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
        Assert.Equal(7, Curl(sb, $"http://127.0.0.1:{echo}/").ExitCode);
        Assert.Equal("echo:still", (await UdpRequest(sb, IPAddress.Loopback, udp, "still"))?.Reply);
        await sb.SendMapping(Mapping(true, Binding(udp, "udp", "")));
        Assert.True(await Harness.WaitUntil(() => UdpRequest(sb, IPAddress.Loopback, udp, "gone").Result is null, Wait), "UDP still answered after remove");

        // SIGTERM: clean exit, the control socket removed.
        proxy.Terminate(TimeSpan.FromSeconds(20));
        Assert.True(proxy.ExitCode == 0, $"exit {proxy.ExitCode}\n{sb.Diagnostics()}");
        Assert.False(File.Exists(sb.SocketPath));
        Assert.Contains("every relayed connection finished", File.ReadAllText(sb.LogPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stale_socket_file_from_a_killed_wsl_proxy_is_replaced_and_a_live_one_is_not_taken_over()
    {
        using var sb = new WslProxySandbox();
        var first = sb.StartWslProxy();
        await WaitForSocket(sb);

        // A second wsl-proxy on the same socket refuses to start.
        var second = sb.StartWslProxy();
        Assert.True(second.WaitForExit(Wait), "the second wsl-proxy did not exit");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("in use by another process", second.Output, StringComparison.Ordinal);

        // SIGKILL leaves the file behind; the next start replaces it and serves.
        Harness.Run("kill", ["-KILL", first.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(first.WaitForExit(Wait));
        Assert.True(File.Exists(sb.SocketPath));
        var port = RandomPort();
        sb.StartUpstreamHttp(port, "after restart");
        var third = sb.StartWslProxy();
        CommandResult curl = null!;
        var ok = await Harness.WaitUntil(() =>
        {
            try
            {
                sb.SendMapping(Mapping(false, Binding(port, "tcp", "127.0.0.1"))).Wait();
            }
            catch (AggregateException)
            {
                return false; // not listening yet (or still the stale file)
            }
            return (curl = Curl(sb, $"http://127.0.0.1:{port}/")).ExitCode == 0;
        }, Wait);
        Assert.True(ok, $"no service after replacing the stale socket: {curl}\n{sb.Diagnostics()}");
        Assert.Equal("after restart", curl.Stdout);
        third.Terminate(TimeSpan.FromSeconds(20));
        Assert.Equal(0, third.ExitCode);
    }

    [Fact]
    public async Task Sigterm_closes_the_listeners_at_once_and_lets_an_open_connection_finish_before_exiting()
    {
        using var sb = new WslProxySandbox();
        var port = RandomPort();
        sb.StartUpstreamEchoAfterEof(port);
        var proxy = sb.StartWslProxy();
        await WaitForSocket(sb);
        await sb.SendMapping(Mapping(false, Binding(port, "tcp", "127.0.0.1")));

        Socket? connected = null;
        Assert.True(await Harness.WaitUntil(() =>
        {
            var s = WslProxySandbox.SocketIn(sb.DefaultNs, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                s.Connect(new IPEndPoint(IPAddress.Loopback, port));
                connected = s;
                return true;
            }
            catch (SocketException)
            {
                s.Dispose();
                return false;
            }
        }, Wait), $"the mapping never took effect\n{sb.Diagnostics()}");
        using var open = connected!;
        await open.SendAsync(Encoding.UTF8.GetBytes("before-term "));
        await Task.Delay(300); // the relay is connected upstream

        Harness.Run("kill", ["-TERM", proxy.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        // New connections are refused at once; the open one goes on.
        Assert.True(await Harness.WaitUntil(() => sb.InDefault("curl", "-sS", "-m", "2", $"http://127.0.0.1:{port}/").ExitCode == 7, Wait), "still accepting after SIGTERM");
        Assert.False(proxy.HasExited, "exited without waiting for the open connection");
        await open.SendAsync(Encoding.UTF8.GetBytes("after-term"));
        open.Shutdown(SocketShutdown.Send);
        var all = new MemoryStream();
        var buf = new byte[1024];
        int n;
        while ((n = await open.ReceiveAsync(buf).WaitAsync(Wait)) > 0) all.Write(buf, 0, n);
        Assert.Equal("echo:before-term after-term", Encoding.UTF8.GetString(all.ToArray()));

        Assert.True(proxy.WaitForExit(Wait), "did not exit after the last connection ended");
        Assert.Equal(0, proxy.ExitCode);
        Assert.Contains("every relayed connection finished", proxy.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(sb.SocketPath));
    }
}
