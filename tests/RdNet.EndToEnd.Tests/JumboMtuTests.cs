using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using RdNet.Transport.Linux;
using Xunit.Abstractions;

namespace RdNet.EndToEnd.Tests;

/// <summary>host-switch with <c>--mtu 65520</c>: the guest gets that MTU by DHCP option 26 and 64 KiB frames cross vm-switch's tap and both links.</summary>
public sealed class JumboSandbox : IAsyncLifetime
{
    public const int Mtu = 65520;

    public NetworkSandbox Sb { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Sb = new NetworkSandbox();
        Sb.StartHostSwitch("--mtu", Mtu.ToString(CultureInfo.InvariantCulture));
        Assert.True(await Harness.WaitUntil(() => File.Exists(Sb.SocketPath), TimeSpan.FromSeconds(30)), $"host-switch never listened\n{Sb.Diagnostics()}");
        Sb.StartVmSwitch();
        var ok = await Harness.WaitUntil(() => Sb.InGuest("ip", "-o", "link", "show", "dev", "eth0").Stdout.Contains($" mtu {Mtu} ", StringComparison.Ordinal)
                                               && Sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal),
            TimeSpan.FromSeconds(40));
        Assert.True(ok, $"eth0 never got its lease with MTU {Mtu}\n{Sb.InGuest("ip", "link", "show", "dev", "eth0")}\n{Sb.Diagnostics()}");
    }

    public Task DisposeAsync()
    {
        Sb.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class JumboMtuTests(JumboSandbox fx, ITestOutputHelper log) : IClassFixture<JumboSandbox>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private static readonly IPAddress HostAlias = IPAddress.Parse("192.168.127.254");

    private long GuestCounter(string name) =>
        long.Parse(fx.Sb.InGuest("cat", $"/sys/class/net/eth0/statistics/{name}").Stdout.Trim(), CultureInfo.InvariantCulture);

    private static async Task<byte[]> ReadToEnd(Socket s)
    {
        var ms = new MemoryStream();
        var buf = new byte[1 << 17];
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) ms.Write(buf, 0, n);
        return ms.ToArray();
    }

    [Fact]
    public void The_guest_is_given_MTU_65520_by_DHCP_option_26()
    {
        Assert.Contains($"mtu={JumboSandbox.Mtu} ", File.ReadAllText(fx.Sb.DhcpEnvFile), StringComparison.Ordinal);
    }

    [Fact]
    public void A_ping_whose_frame_is_exactly_the_largest_frame_is_answered_by_the_gateway()
    {
        // 65520 - 20 (IP) - 8 (ICMP) = 65492 bytes of data: a 65534-byte frame each way, DF set, so nothing fragments.
        var ping = fx.Sb.InGuest("ping", "-c", "2", "-W", "5", "-M", "do", "-s", "65492", "192.168.127.1");
        Assert.True(ping.ExitCode == 0, $"{ping}\n{fx.Sb.Diagnostics()}");
        Assert.Contains("65500 bytes from 192.168.127.1", ping.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transfers_both_ways_travel_in_64_KiB_segments_and_arrive_intact()
    {
        const int size = 32 * 1024 * 1024;
        using var listener = NetNamespace.RunIn(fx.Sb.HostNs, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            s.Listen(16);
            return s;
        });
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var payload = new byte[size];
        new Random(65520).NextBytes(payload);

        // Upload: the host hashes what it receives and answers with the hash.
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            var data = await ReadToEnd(c);
            await c.SendAsync(SHA256.HashData(data), SocketFlags.None);
            c.Shutdown(SocketShutdown.Both);
            return data.Length;
        });
        long txBytes = GuestCounter("tx_bytes"), txPackets = GuestCounter("tx_packets");
        using (var up = NetNamespace.RunIn(fx.Sb.GuestNs, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            await up.ConnectAsync(HostAlias, port).WaitAsync(Wait);
            var sw = Stopwatch.StartNew();
            await up.SendAsync(payload, SocketFlags.None).WaitAsync(Wait);
            up.Shutdown(SocketShutdown.Send);
            var hash = await ReadToEnd(up).WaitAsync(Wait);
            Assert.Equal(SHA256.HashData(payload), hash);
            Assert.Equal(size, await server.WaitAsync(Wait));
            log.WriteLine($"guest -> host at MTU 65520: {size * 8.0 / sw.Elapsed.TotalSeconds / 1e9:F2} Gbit/s");
        }
        var upAverage = (GuestCounter("tx_bytes") - txBytes) / Math.Max(1, GuestCounter("tx_packets") - txPackets);

        // Download: the host sends, the guest hashes.
        var sender = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            await c.SendAsync(payload, SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
            await ReadToEnd(c);
        });
        long rxBytes = GuestCounter("rx_bytes"), rxPackets = GuestCounter("rx_packets");
        using (var down = NetNamespace.RunIn(fx.Sb.GuestNs, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            await down.ConnectAsync(HostAlias, port).WaitAsync(Wait);
            var sw = Stopwatch.StartNew();
            var got = await ReadToEnd(down).WaitAsync(Wait);
            Assert.Equal(size, got.Length);
            Assert.Equal(SHA256.HashData(payload), SHA256.HashData(got));
            down.Shutdown(SocketShutdown.Send);
            await sender.WaitAsync(Wait);
            log.WriteLine($"host -> guest at MTU 65520: {size * 8.0 / sw.Elapsed.TotalSeconds / 1e9:F2} Gbit/s");
        }
        var downAverage = (GuestCounter("rx_bytes") - rxBytes) / Math.Max(1, GuestCounter("rx_packets") - rxPackets);
        log.WriteLine($"average frame on the guest's eth0: {upAverage} bytes sent, {downAverage} bytes received");

        // Half the packets are ACKs either way; data segments near 64 KiB still put the average far above any 4000-byte
        // frame limit (at MTU 1500 it would be below 1514).
        Assert.True(upAverage > 16000, $"upload average frame {upAverage} bytes: large segments did not get through");
        Assert.True(downAverage > 16000, $"download average frame {downAverage} bytes: large segments did not get through");
    }
}
