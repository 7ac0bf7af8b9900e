using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using RdNet.Transport.Linux;
using Xunit.Abstractions;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// One sandbox for the TCP tests: host-switch in its loopback-only namespace with <c>--outbound-allow 127.0.0.0/8</c>,
/// vm-switch giving the guest namespace eth0 by DHCP. Servers listen on 127.0.0.1 in the host-switch's namespace
/// (the "host"); the guest reaches them as 192.168.127.254.
/// </summary>
public sealed class TcpSandbox : IAsyncLifetime
{
    public NetworkSandbox Sb { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Sb = new NetworkSandbox();
        Sb.StartHostSwitch("--outbound-allow", "127.0.0.0/8");
        Assert.True(await Harness.WaitUntil(() => File.Exists(Sb.SocketPath), TimeSpan.FromSeconds(30)), $"host-switch never listened\n{Sb.Diagnostics()}");
        Sb.StartVmSwitch();
        var ok = await Harness.WaitUntil(() => Sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), TimeSpan.FromSeconds(40));
        Assert.True(ok, $"eth0 never got its lease\n{Sb.Diagnostics()}");
    }

    public Task DisposeAsync()
    {
        Sb.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A listening socket on 127.0.0.1 inside the host-switch's namespace.</summary>
    public Socket HostListener(int backlog = 2048) => NetNamespace.RunIn(Sb.HostNs, () =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        s.Listen(backlog);
        return s;
    });

    /// <summary>A TCP socket of the guest namespace (not connected yet).</summary>
    public Socket GuestSocket() => NetNamespace.RunIn(Sb.GuestNs, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

    public static readonly IPAddress HostAlias = IPAddress.Parse("192.168.127.254");
}

public sealed class NamespaceTcpTests(TcpSandbox fx, ITestOutputHelper log) : IClassFixture<TcpSandbox>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static int Port(Socket listener) => ((IPEndPoint)listener.LocalEndPoint!).Port;

    private static async Task<byte[]> ReadToEnd(Socket s)
    {
        var ms = new MemoryStream();
        var buf = new byte[65536];
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) ms.Write(buf, 0, n);
        return ms.ToArray();
    }

    [Fact]
    public async Task Curl_from_the_guest_fetches_a_page_from_a_server_on_the_hosts_loopback()
    {
        using var listener = fx.HostListener();
        var body = "hello from the host loopback\n";
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            var req = new byte[4096];
            int got = 0;
            while (!Encoding.ASCII.GetString(req, 0, got).Contains("\r\n\r\n", StringComparison.Ordinal))
                got += await c.ReceiveAsync(req.AsMemory(got), SocketFlags.None);
            var resp = $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
            await c.SendAsync(Encoding.ASCII.GetBytes(resp), SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
            await ReadToEnd(c);
        });
        var curl = fx.Sb.InGuest("curl", "-sS", "--max-time", "20", $"http://192.168.127.254:{Port(listener)}/");
        Assert.True(curl.ExitCode == 0, $"curl failed: {curl}\n{fx.Sb.Diagnostics()}");
        Assert.Equal(body, curl.Stdout);
        await server.WaitAsync(Wait);
    }

    [Fact]
    public async Task A_100_MB_upload_and_a_100_MB_download_arrive_with_matching_checksums()
    {
        const int size = 100 * 1024 * 1024;
        using var listener = fx.HostListener();
        var port = Port(listener);

        // Upload: the host hashes what it receives and answers with the hash.
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            var data = await ReadToEnd(c);
            await c.SendAsync(SHA256.HashData(data), SocketFlags.None);
            c.Shutdown(SocketShutdown.Both);
            return data.Length;
        });
        var payload = new byte[size];
        new Random(42).NextBytes(payload);
        using (var up = fx.GuestSocket())
        {
            await up.ConnectAsync(TcpSandbox.HostAlias, port).WaitAsync(Wait);
            var sw = Stopwatch.StartNew();
            await up.SendAsync(payload, SocketFlags.None).WaitAsync(Wait);
            up.Shutdown(SocketShutdown.Send);
            var hash = await ReadToEnd(up).WaitAsync(Wait);
            sw.Stop();
            Assert.Equal(SHA256.HashData(payload), hash);
            Assert.Equal(size, await server.WaitAsync(Wait));
            log.WriteLine($"guest -> host: {size * 8.0 / sw.Elapsed.TotalSeconds / 1e9:F2} Gbit/s");
        }

        // Download: the host sends, the guest hashes.
        var sender = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            await c.SendAsync(payload, SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
            await ReadToEnd(c);
        });
        long rxBytes = GuestCounter("rx_bytes"), rxPackets = GuestCounter("rx_packets");
        using (var down = fx.GuestSocket())
        {
            await down.ConnectAsync(TcpSandbox.HostAlias, port).WaitAsync(Wait);
            var sw = Stopwatch.StartNew();
            var got = await ReadToEnd(down).WaitAsync(Wait);
            sw.Stop();
            Assert.Equal(size, got.Length);
            Assert.Equal(SHA256.HashData(payload), SHA256.HashData(got));
            down.Shutdown(SocketShutdown.Send);
            await sender.WaitAsync(Wait);
            log.WriteLine($"host -> guest: {size * 8.0 / sw.Elapsed.TotalSeconds / 1e9:F2} Gbit/s");
        }
        // vm-switch joins the MTU-sized segments queued for the tap into GSO writes: the guest's eth0 counts one packet
        // per write, so at MTU 1500 an average far above 1,514 bytes shows the segments went in as large ones.
        var average = (GuestCounter("rx_bytes") - rxBytes) / Math.Max(1, GuestCounter("rx_packets") - rxPackets);
        log.WriteLine($"host -> guest: {average} bytes per packet received on eth0");
        Assert.True(average > 8000, $"eth0 received {average} bytes per packet: vm-switch did not join segments into GSO writes");
    }

    private long GuestCounter(string name) =>
        long.Parse(fx.Sb.InGuest("cat", $"/sys/class/net/eth0/statistics/{name}").Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_half_closed_connection_still_carries_the_servers_reply()
    {
        using var listener = fx.HostListener();
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            var request = await ReadToEnd(c); // until the client's FIN
            await Task.Delay(200);             // the reply comes well after the client half-closed
            await c.SendAsync(Encoding.ASCII.GetBytes($"got {request.Length} bytes"), SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
        });
        using var client = fx.GuestSocket();
        await client.ConnectAsync(TcpSandbox.HostAlias, Port(listener)).WaitAsync(Wait);
        await client.SendAsync(new byte[12345], SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);
        var reply = await ReadToEnd(client).WaitAsync(Wait);
        Assert.Equal("got 12345 bytes", Encoding.ASCII.GetString(reply));
        await server.WaitAsync(Wait);
    }

    [Fact]
    public async Task A_connect_to_a_closed_host_port_is_refused_quickly()
    {
        int port;
        using (var l = fx.HostListener()) port = Port(l);
        using var client = fx.GuestSocket();
        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(TcpSandbox.HostAlias, port).WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"refusal took {sw.Elapsed}");
    }

    [Fact]
    public async Task A_connection_to_the_cloud_metadata_address_is_refused()
    {
        using var client = fx.GuestSocket();
        var ex = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Parse("169.254.169.254"), 80).WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task A_thousand_concurrent_connections_all_complete()
    {
        const int n = 1000;
        using var listener = fx.HostListener(backlog: 4096);
        var port = Port(listener);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var served = 0;
        var acceptLoop = Task.Run(async () =>
        {
            var handlers = new List<Task>();
            for (int i = 0; i < n; i++)
            {
                var c = await listener.AcceptAsync(cts.Token);
                handlers.Add(Task.Run(async () =>
                {
                    using (c)
                    {
                        var data = await ReadToEnd(c);
                        await c.SendAsync(data, SocketFlags.None);
                        c.Shutdown(SocketShutdown.Send);
                        Interlocked.Increment(ref served);
                    }
                }));
            }
            await Task.WhenAll(handlers);
        });

        var sockets = Enumerable.Range(0, n).Select(_ => fx.GuestSocket()).ToList();
        var sw = Stopwatch.StartNew();
        var clients = sockets.Select(async (s, i) =>
        {
            using (s)
            {
                await s.ConnectAsync(TcpSandbox.HostAlias, port, cts.Token);
                var msg = Encoding.ASCII.GetBytes($"connection {i:D4}");
                await s.SendAsync(msg, SocketFlags.None);
                s.Shutdown(SocketShutdown.Send);
                var echo = await ReadToEnd(s);
                return Encoding.ASCII.GetString(echo) == $"connection {i:D4}";
            }
        }).ToList();
        var results = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromMinutes(2));
        await acceptLoop.WaitAsync(TimeSpan.FromMinutes(1));
        sw.Stop();
        Assert.All(results, Assert.True);
        Assert.Equal(n, served);
        log.WriteLine($"{n} concurrent connections in {sw.Elapsed.TotalSeconds:F2} s");
    }
}
