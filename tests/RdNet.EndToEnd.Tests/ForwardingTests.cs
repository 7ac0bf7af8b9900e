using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using RdNet.Transport.Linux;
using Xunit.Abstractions;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// Port forwarding (issue #6) end to end: host-switch in its loopback-only namespace (the "host") with the host-side
/// API on a unix socket and one static --port-forward; vm-switch giving the guest namespace eth0. Servers run in the
/// guest namespace on 192.168.127.2; clients connect to 127.0.0.1:PORT in the host namespace, as a user's tools would.
/// </summary>
public sealed class ForwardingSandbox : IAsyncLifetime
{
    public const int StaticPort = 9191;
    public const int GuestHttpPort = 8080;

    public NetworkSandbox Sb { get; private set; } = null!;
    public ChildProcess Host { get; private set; } = null!;
    public string ApiSocket { get; private set; } = "";
    private Socket? _http;
    private CancellationTokenSource _stop = new();
    private string _resolvDir = "";

    public async Task InitializeAsync()
    {
        Sb = new NetworkSandbox();
        ApiSocket = Path.Combine(Sb.Dir, "api.sock");
        Host = Sb.StartHostSwitch("--api", $"unix://{ApiSocket}", "--port-forward", $"127.0.0.1:{StaticPort}=192.168.127.2:{GuestHttpPort}");
        // The API socket file appears at bind; it answers once Kestrel listens on it.
        Assert.True(await Harness.WaitUntil(() => File.Exists(Sb.SocketPath) && Api("GET", "/services/forwarder/all").Stdout.EndsWith("200", StringComparison.Ordinal), TimeSpan.FromSeconds(30)),
            $"host-switch never listened\n{Sb.Diagnostics()}");
        Sb.StartVmSwitch();
        var ok = await Harness.WaitUntil(() => Sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), TimeSpan.FromSeconds(40));
        Assert.True(ok, $"eth0 never got its lease\n{Sb.Diagnostics()}");
        // The guest resolves names through the gateway (ip netns exec bind-mounts /etc/netns/NS/resolv.conf).
        _resolvDir = Path.Combine("/etc/netns", Sb.GuestNs);
        Directory.CreateDirectory(_resolvDir);
        File.WriteAllText(Path.Combine(_resolvDir, "resolv.conf"), "nameserver 192.168.127.1\noptions timeout:2 attempts:2\n");
        _http = GuestListener(SocketType.Stream, GuestHttpPort);
        _ = ServeHttp(_http, _stop.Token);
    }

    public Task DisposeAsync()
    {
        _stop.Cancel();
        _http?.Dispose();
        try { Directory.Delete(_resolvDir, recursive: true); } catch (IOException) { }
        Sb.Dispose();
        _stop.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A socket bound to 192.168.127.2:<paramref name="port"/> in the guest namespace (listening if a stream).</summary>
    public Socket GuestListener(SocketType type, int port) => NetNamespace.RunIn(Sb.GuestNs, () =>
    {
        var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
        if (type == SocketType.Stream) s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(IPAddress.Parse("192.168.127.2"), port));
        if (type == SocketType.Stream) s.Listen(1024);
        return s;
    });

    /// <summary>A socket of the host namespace (where host-switch and its forwards listen).</summary>
    public Socket HostSocket(SocketType type) => NetNamespace.RunIn(Sb.HostNs, () =>
        new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp));

    /// <summary>A one-page HTTP server: answers every request with "hello from the guest" and closes.</summary>
    private static async Task ServeHttp(Socket listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket c;
            try { c = await listener.AcceptAsync(ct); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (c)
                {
                    try
                    {
                        var buf = new byte[4096];
                        var got = 0;
                        while (!Encoding.ASCII.GetString(buf, 0, got).Contains("\r\n\r\n", StringComparison.Ordinal))
                        {
                            var n = await c.ReceiveAsync(buf.AsMemory(got), SocketFlags.None);
                            if (n == 0) return;
                            got += n;
                        }
                        const string body = "hello from the guest\n";
                        await c.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"), SocketFlags.None);
                        c.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException)
                    {
                    }
                }
            }, CancellationToken.None);
        }
    }

    /// <summary>curl in the host namespace (where the forwards listen).</summary>
    public CommandResult CurlOnHost(params string[] args) =>
        Harness.Run("ip", ["netns", "exec", Sb.HostNs, "curl", "-sS", "--max-time", "20", .. args]);

    /// <summary>curl against the host-side API socket: returns "STATUS\nBODY".</summary>
    public CommandResult Api(string method, string path, string? body = null)
    {
        List<string> args = ["-sS", "--max-time", "20", "--unix-socket", ApiSocket, "-X", method, "-w", "\n%{http_code}", $"http://localhost{path}"];
        if (body is not null) args.AddRange(["-H", "Content-Type: application/json", "--data-binary", body]);
        return Harness.Run("curl", args);
    }
}

public sealed class ForwardingTests(ForwardingSandbox fx, ITestOutputHelper log) : IClassFixture<ForwardingSandbox>
{
    private (int Status, string Body) Split(CommandResult r)
    {
        Assert.True(r.ExitCode == 0, $"{r}\n{fx.Sb.Diagnostics()}");
        var i = r.Stdout.LastIndexOf('\n');
        return (int.Parse(r.Stdout[(i + 1)..], System.Globalization.CultureInfo.InvariantCulture), r.Stdout[..i]);
    }

    private (int Status, string Body) Expose(string local, string remote, string? protocol = null) =>
        Split(fx.Api("POST", "/services/forwarder/expose",
            protocol is null ? $$"""{"local":"{{local}}","remote":"{{remote}}"}""" : $$"""{"local":"{{local}}","remote":"{{remote}}","protocol":"{{protocol}}"}"""));

    private (int Status, string Body) Unexpose(string local, string? protocol = null) =>
        Split(fx.Api("POST", "/services/forwarder/unexpose",
            protocol is null ? $$"""{"local":"{{local}}"}""" : $$"""{"local":"{{local}}","protocol":"{{protocol}}"}"""));

    [Fact]
    public void A_forward_exposed_on_the_host_api_reaches_the_guest_server_and_unexpose_refuses_again()
    {
        Assert.Equal((200, ""), Expose("127.0.0.1:9090", "192.168.127.2:8080"));
        var r = fx.CurlOnHost("http://127.0.0.1:9090/");
        Assert.True(r.ExitCode == 0 && r.Stdout == "hello from the guest\n", $"{r}\n{fx.Sb.Diagnostics()}");
        Assert.Contains("""{"local":"127.0.0.1:9090","remote":"192.168.127.2:8080","protocol":"tcp"}""", Split(fx.Api("GET", "/services/forwarder/all")).Body, StringComparison.Ordinal);

        Assert.Equal((200, ""), Unexpose("127.0.0.1:9090"));
        r = fx.CurlOnHost("http://127.0.0.1:9090/");
        Assert.True(r.ExitCode == 7, $"expected curl exit 7 (connection refused): {r}"); // CURLE_COULDNT_CONNECT
        Assert.DoesNotContain("9090", Split(fx.Api("GET", "/services/forwarder/all")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public void The_guest_exposes_through_gateway_rancher_desktop_internal_and_an_empty_remote_host_means_the_guest()
    {
        var r = fx.Sb.InGuest("curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", "-X", "POST", "--data-binary",
            """{"local":"127.0.0.1:9092","remote":":8080"}""", "http://gateway.rancher-desktop.internal/services/forwarder/expose");
        Assert.Equal((200, ""), Split(r));
        var all = Split(fx.Sb.InGuest("curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", "http://192.168.127.1/services/forwarder/all"));
        Assert.Equal(200, all.Status);
        Assert.Contains("""{"local":"127.0.0.1:9092","remote":"192.168.127.2:8080","protocol":"tcp"}""", all.Body, StringComparison.Ordinal);
        var page = fx.CurlOnHost("http://127.0.0.1:9092/");
        Assert.True(page.ExitCode == 0 && page.Stdout == "hello from the guest\n", $"{page}\n{fx.Sb.Diagnostics()}");
        // The in-guest API has the three routes only.
        var notFound = Split(fx.Sb.InGuest("curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", "http://192.168.127.1/stats"));
        Assert.Equal((404, "404 page not found\n"), notFound);
        Assert.Equal((200, ""), Unexpose("127.0.0.1:9092"));
    }

    [Fact]
    public void The_static_port_forward_works_from_the_start()
    {
        var r = fx.CurlOnHost($"http://127.0.0.1:{ForwardingSandbox.StaticPort}/");
        Assert.True(r.ExitCode == 0 && r.Stdout == "hello from the guest\n", $"{r}\n{fx.Sb.Diagnostics()}");
        Assert.Contains($$"""{"local":"127.0.0.1:{{ForwardingSandbox.StaticPort}}","remote":"192.168.127.2:8080","protocol":"tcp"}""",
            Split(fx.Api("GET", "/services/forwarder/all")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_requests_get_the_originals_status_and_a_clear_message_and_leave_nothing_behind()
    {
        Assert.Equal(400, Split(fx.Api("POST", "/services/forwarder/expose", "{not json")).Status);
        Assert.Equal(400, Split(fx.Api("POST", "/services/forwarder/expose", """{"local":5}""")).Status);
        Assert.Equal((400, "post only\n"), Split(fx.Api("GET", "/services/forwarder/expose")));
        Assert.Equal((400, "post only\n"), Split(fx.Api("GET", "/services/forwarder/unexpose")));
        Assert.Equal((404, "404 page not found\n"), Split(fx.Api("GET", "/services/forwarder/other")));

        var unknown = Expose("127.0.0.1:9095", "192.168.127.2:8080", "sctp");
        Assert.Equal(500, unknown.Status);
        Assert.Contains("unknown protocol", unknown.Body, StringComparison.Ordinal);
        var localRange = Expose("127.0.0.1:70000", "192.168.127.2:8080");
        Assert.Equal(500, localRange.Status);
        Assert.Contains("1 to 65535", localRange.Body, StringComparison.Ordinal);
        var remoteRange = Expose("127.0.0.1:9095", "192.168.127.2:0");
        Assert.Equal(500, remoteRange.Status); // splits as host:port, fails later: 500 as the original
        Assert.Contains("1 to 65535", remoteRange.Body, StringComparison.Ordinal);
        Assert.Equal(400, Expose("127.0.0.1:9095", "192.168.127.2").Status);
        // No caller on the host-side API: an empty remote host is refused with the reason.
        var empty = Expose("127.0.0.1:9095", ":8080");
        Assert.Equal(400, empty.Status);
        Assert.Contains("caller", empty.Body, StringComparison.Ordinal);
        Assert.Equal(500, Expose("127.0.0.1:9095", "10.1.2.3:8080").Status);

        // 192.0.2.1 (TEST-NET-1) is on no interface of the host namespace: the bind fails, nothing is listed.
        var unbindable = Expose("192.0.2.1:9096", "192.168.127.2:8080");
        Assert.Equal(500, unbindable.Status);
        Assert.Contains("cannot listen", unbindable.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("9096", Split(fx.Api("GET", "/services/forwarder/all")).Body, StringComparison.Ordinal);

        Assert.Equal((200, ""), Expose("127.0.0.1:9097", "192.168.127.2:8080"));
        var dup = Expose("127.0.0.1:9097", "192.168.127.2:8081");
        Assert.Equal(500, dup.Status);
        Assert.Equal("proxy already running for tcp/127.0.0.1:9097\n", dup.Body);
        // The same address under another key is refused by the OS (address in use): still one forward.
        var busy = Expose("localhost:9097", "192.168.127.2:8080");
        Assert.Equal(500, busy.Status);
        Assert.Contains("cannot listen on tcp/localhost:9097", busy.Body, StringComparison.Ordinal);
        Assert.Equal((200, ""), Unexpose("127.0.0.1:9097"));
        Assert.Equal((500, "proxy not found\n"), Unexpose("127.0.0.1:9097"));
        Assert.Equal((500, "proxy not found\n"), Unexpose("127.0.0.1:9097", "udp"));
        var all = Split(fx.Api("GET", "/services/forwarder/all"));
        Assert.DoesNotContain("9097", all.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("9095", all.Body, StringComparison.Ordinal);
    }

    [Fact]
    public void All_is_a_sorted_json_array()
    {
        Assert.Equal((200, ""), Expose("127.0.0.1:9301", "192.168.127.2:8080", "udp"));
        Assert.Equal((200, ""), Expose("127.0.0.1:9301", "192.168.127.2:8080"));
        Assert.Equal((200, ""), Expose("127.0.0.1:9300", "192.168.127.2:8080"));
        var body = Split(fx.Api("GET", "/services/forwarder/all")).Body;
        Assert.EndsWith("]\n", body, StringComparison.Ordinal);
        int a = body.IndexOf("\"127.0.0.1:9300\"", StringComparison.Ordinal);
        int b = body.IndexOf("""{"local":"127.0.0.1:9301","remote":"192.168.127.2:8080","protocol":"tcp"}""", StringComparison.Ordinal);
        int c = body.IndexOf("""{"local":"127.0.0.1:9301","remote":"192.168.127.2:8080","protocol":"udp"}""", StringComparison.Ordinal);
        Assert.True(a >= 0 && a < b && b < c, body);
        Unexpose("127.0.0.1:9301", "udp");
        Unexpose("127.0.0.1:9301");
        Unexpose("127.0.0.1:9300");
    }

    [Fact]
    public async Task A_hundred_megabytes_each_way_arrive_intact_and_half_close_is_preserved()
    {
        const int size = 100 * 1024 * 1024;
        using var listener = fx.GuestListener(SocketType.Stream, 8090);
        Assert.Equal((200, ""), Expose("127.0.0.1:9093", "192.168.127.2:8090"));
        var data = new byte[size];
        Random.Shared.NextBytes(data);
        var expected = SHA256.HashData(data);
        // The guest reads the upload to EOF (the client's half-close), answers with its hash, then sends 100 MB back.
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buf = new byte[1 << 16];
            int n;
            while ((n = await c.ReceiveAsync(buf, SocketFlags.None)) > 0) sha.AppendData(buf, 0, n);
            await c.SendAsync(sha.GetHashAndReset(), SocketFlags.None);
            for (var off = 0; off < size; off += 1 << 20) await c.SendAsync(data.AsMemory(off, 1 << 20), SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
        });
        using var client = fx.HostSocket(SocketType.Stream);
        await client.ConnectAsync(IPAddress.Loopback, 9093);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var off = 0; off < size; off += 1 << 20) await client.SendAsync(data.AsMemory(off, 1 << 20), SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);
        var up = sw.Elapsed;
        using var ms = new MemoryStream();
        var rbuf = new byte[1 << 16];
        int got;
        while ((got = await client.ReceiveAsync(rbuf, SocketFlags.None)) > 0) ms.Write(rbuf, 0, got);
        await server;
        var all = ms.ToArray();
        Assert.Equal(32 + size, all.Length);
        Assert.Equal(expected, all[..32]);
        Assert.Equal(expected, SHA256.HashData(all.AsSpan(32)));
        log.WriteLine($"100 MB up in {up.TotalSeconds:F1} s, both ways in {sw.Elapsed.TotalSeconds:F1} s");
        Unexpose("127.0.0.1:9093");
    }

    [Fact]
    public async Task A_udp_forward_relays_datagrams_and_replies_per_client()
    {
        using var echo = fx.GuestListener(SocketType.Dgram, 5354);
        var server = Task.Run(async () =>
        {
            var buf = new byte[65536];
            for (var i = 0; i < 4; i++)
            {
                var r = await echo.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0));
                await echo.SendToAsync(Encoding.ASCII.GetBytes("echo:" + Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes)), SocketFlags.None, r.RemoteEndPoint);
            }
        });
        Assert.Equal((200, ""), Expose("127.0.0.1:9094", "192.168.127.2:5354", "udp"));
        using var a = fx.HostSocket(SocketType.Dgram);
        using var b = fx.HostSocket(SocketType.Dgram);
        var target = new IPEndPoint(IPAddress.Loopback, 9094);
        foreach (var (sock, text) in new[] { (a, "a1"), (b, "b1"), (a, "a2"), (b, "b2") })
        {
            await sock.SendToAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, target);
            var buf = new byte[1024];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var r = await sock.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            Assert.Equal("echo:" + text, Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes));
            Assert.Equal(target, r.RemoteEndPoint);
        }
        await server;
        Assert.Equal((200, ""), Unexpose("127.0.0.1:9094", "udp"));
    }

    [Fact]
    public async Task Two_thousand_connect_close_cycles_leave_no_sockets_or_actors_behind()
    {
        using var listener = fx.GuestListener(SocketType.Stream, 8091);
        var serverStop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            while (!serverStop.IsCancellationRequested)
            {
                Socket c;
                try { c = await listener.AcceptAsync(serverStop.Token); }
                catch (OperationCanceledException) { return; }
                _ = Task.Run(async () =>
                {
                    using (c)
                    {
                        var buf = new byte[16];
                        try
                        {
                            var n = await c.ReceiveAsync(buf, SocketFlags.None);
                            if (n > 0) await c.SendAsync(buf.AsMemory(0, n), SocketFlags.None);
                            // Read to the client's FIN, then close: a half-closed connection on the way.
                            while (await c.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                        }
                        catch (SocketException) { }
                    }
                });
            }
        });
        Assert.Equal((200, ""), Expose("127.0.0.1:9098", "192.168.127.2:8091"));
        async Task Cycle()
        {
            using var s = fx.HostSocket(SocketType.Stream);
            await s.ConnectAsync(IPAddress.Loopback, 9098);
            await s.SendAsync(new byte[] { 42 }, SocketFlags.None);
            var buf = new byte[16];
            Assert.Equal(1, await s.ReceiveAsync(buf, SocketFlags.None));
            s.Shutdown(SocketShutdown.Send);
            while (await s.ReceiveAsync(buf, SocketFlags.None) > 0) { }
        }
        for (var i = 0; i < 50; i++) await Cycle(); // warm-up
        await Task.Delay(3000);
        var before = OpenFds(fx.Host.Pid);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 2000; i += 8) await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Cycle()));
        log.WriteLine($"2000 cycles in {sw.Elapsed.TotalSeconds:F1} s");
        // TIME-WAIT flows (rdnet.tcp.time-wait, 2 s) go; then the descriptor count is back where it was.
        int after = 0;
        var flat = await Harness.WaitUntil(() => (after = OpenFds(fx.Host.Pid)) <= before + 4, TimeSpan.FromSeconds(30));
        log.WriteLine($"host-switch descriptors: {before} before, {after} after");
        Assert.True(flat, $"descriptors {before} -> {after}");
        // And the actors: every forwarded connection's actor and its TCP flow actor are gone (GET /stats counts them
        // from the forwarder's and the TCP NAT's own tables, which drop an entry when its actor terminates).
        string stats = "";
        var actorsGone = await Harness.WaitUntil(() =>
        {
            stats = Split(fx.Api("GET", "/stats")).Body;
            using var doc = System.Text.Json.JsonDocument.Parse(stats);
            var flows = doc.RootElement.GetProperty("flows").EnumerateArray().ToDictionary(f => f.GetProperty("protocol").GetString()!, f => f.GetProperty("active").GetInt32());
            return flows.GetValueOrDefault("forwarded", -1) == 0 && flows.GetValueOrDefault("tcp", -1) == 0;
        }, TimeSpan.FromSeconds(30));
        Assert.True(actorsGone, $"connection or flow actors left after 2000 cycles: {stats}");
        await Cycle(); // still forwarding
        serverStop.Cancel();
        await server;
        Assert.Equal((200, ""), Unexpose("127.0.0.1:9098"));
    }

    [Fact]
    public void The_rdnet_forward_client_exposes_lists_and_unexposes_and_reports_refusals_with_their_status()
    {
        CommandResult Client(params string[] args) => Harness.Run(Harness.RdnetPath, ["forward", "--api", $"unix://{fx.ApiSocket}", .. args]);
        var r = Client("expose", "127.0.0.1:9400", "192.168.127.2:8080");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("exposed tcp/127.0.0.1:9400 -> 192.168.127.2:8080", r.Stdout, StringComparison.Ordinal);
        r = Client("expose", "--protocol", "udp", "127.0.0.1:9400", "192.168.127.2:5353");
        Assert.True(r.ExitCode == 0, r.ToString());

        r = Client("list");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^PROTOCOL\s+LOCAL\s+REMOTE$", lines[0]);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^tcp\s+127\.0\.0\.1:9400\s+192\.168\.127\.2:8080$"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^udp\s+127\.0\.0\.1:9400\s+192\.168\.127\.2:5353$"));
        r = Client("list", "--json");
        Assert.Contains("""{"local":"127.0.0.1:9400","remote":"192.168.127.2:5353","protocol":"udp"}""", r.Stdout, StringComparison.Ordinal);

        r = Client("expose", "127.0.0.1:9400", "192.168.127.2:8080");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("500", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("proxy already running for tcp/127.0.0.1:9400", r.Stderr, StringComparison.Ordinal);
        r = Client("expose", "127.0.0.1:9401", "nowhere");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("400", r.Stderr, StringComparison.Ordinal);

        Assert.Equal(0, Client("unexpose", "127.0.0.1:9400").ExitCode);
        Assert.Equal(0, Client("unexpose", "-p", "udp", "127.0.0.1:9400").ExitCode);
        r = Client("unexpose", "127.0.0.1:9400");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("proxy not found", r.Stderr, StringComparison.Ordinal);

        r = Harness.Run(Harness.RdnetPath, ["forward", "--api", $"unix://{fx.Sb.Dir}/nothing.sock", "list"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("cannot reach", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_unix_forward_carries_a_host_socket_path_to_a_tcp_port_in_the_guest()
    {
        var path = Path.Combine(fx.Sb.Dir, "app.sock");
        Assert.Equal((200, ""), Expose(path, "tcp://192.168.127.2:8080", "unix"));
        var r = Harness.Run("curl", ["-sS", "--max-time", "20", "--unix-socket", path, "http://guest/"]);
        Assert.True(r.ExitCode == 0 && r.Stdout == "hello from the guest\n", $"{r}\n{fx.Sb.Diagnostics()}");
        Assert.Equal((200, ""), Unexpose(path, "unix"));
        Assert.True(await Harness.WaitUntil(() => !File.Exists(path), TimeSpan.FromSeconds(5)), "the socket file stayed");
    }

    private static int OpenFds(int pid) => new DirectoryInfo($"/proc/{pid}/fd").EnumerateFileSystemInfos().Count();
}
