using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using RdNet.Transport.Linux;

// DNS on the gateway, measured from inside a guest namespace (issue #3). Like the end-to-end tests: host-switch in
// a loopback-only namespace with --dns-upstream pointing at a minimal UDP responder on 127.0.0.1 there, vm-switch
// owning eth0 in a guest namespace, udhcpc for the lease. Then N workers in the guest namespace each keep one query
// outstanding to 192.168.127.1:53 for a fixed time, for a local-zone name and for an upstream name, and report
// queries/s and latency percentiles. Nothing leaves the namespaces it creates; they are removed at the end.
// Usage (root): dotnet run -c Release --project bench/RdNet.DnsBench [seconds] [workers] [Debug|Release build of rdnet]
if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the DNS benchmark uses Linux network namespaces");
var inv = CultureInfo.InvariantCulture;
var seconds = args.Length > 0 ? int.Parse(args[0], inv) : 5;
var workers = args.Length > 1 ? int.Parse(args[1], inv) : 8;
var configuration = args.Length > 2 ? args[2] : "Debug";
var root = new DirectoryInfo(AppContext.BaseDirectory);
while (root is not null && !File.Exists(Path.Combine(root.FullName, "RdNet.sln"))) root = root.Parent;
var rdnet = Path.Combine(root?.FullName ?? throw new InvalidOperationException("RdNet.sln not found"), "RdNet.Cli", "bin", configuration, "net10.0", "rdnet");
if (!File.Exists(rdnet)) throw new InvalidOperationException($"{rdnet} missing: dotnet build RdNet.Cli -c {configuration}");

var id = Random.Shared.Next(0, 0xFFFFFF).ToString("x6", inv);
string hostNs = $"rdnb-h-{id}", guestNs = $"rdnb-g-{id}";
var dir = Directory.CreateTempSubdirectory("rdnb-").FullName;
var processes = new List<Process>();
using var cts = new CancellationTokenSource();
try
{
    Run("ip", "netns", "add", hostNs);
    Run("ip", "netns", "add", guestNs);
    Run("ip", "-n", hostNs, "link", "set", "lo", "up");
    var upstream = NetNamespace.RunIn(hostNs, () =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    });
    _ = Task.Run(() => ServeUpstream(upstream, cts.Token));
    var script = Path.Combine(dir, "dhcp.sh");
    File.WriteAllText(script, """
        #!/bin/sh
        case "$1" in
          deconfig) ip -4 addr flush dev "$interface"; ip link set dev "$interface" up ;;
          bound|renew) ip -4 addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
        esac
        exit 0
        """.Replace("\r", "", StringComparison.Ordinal));
    File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    var sock = Path.Combine(dir, "hs.sock");
    processes.Add(Start("ip", "netns", "exec", hostNs, rdnet, "host-switch", "--listen", $"unix://{sock}", "--search-domain", "bench.test",
        "--dns-upstream", $"127.0.0.1:{((IPEndPoint)upstream.LocalEndPoint!).Port}"));
    Wait(() => File.Exists(sock), "host-switch socket");
    processes.Add(Start("ip", "netns", "exec", guestNs, rdnet, "vm-switch", "--logfile", "/dev/stdout", "--dhcp-script", script, "--connect", $"unix://{sock}"));
    Wait(() => Run("ip", "netns", "exec", guestNs, "ip", "-4", "-o", "addr", "show", "dev", "eth0").Contains("192.168.127.2/", StringComparison.Ordinal), "the guest's lease");

    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}; rdnet {configuration}; {workers} workers x {seconds} s each");
    foreach (var (label, name) in new[] { ("local zone (host.docker.internal)", "host.docker.internal"), ("loopback upstream (www.bench.test)", "www.bench.test") })
    {
        await Measure(guestNs, name, workers, TimeSpan.FromSeconds(1)); // warm-up
        var r = await Measure(guestNs, name, workers, TimeSpan.FromSeconds(seconds));
        Console.WriteLine($"{label,-36} {r.Qps,8:F0} queries/s   p50 {r.P50,6:F3} ms   p99 {r.P99,6:F3} ms   timeouts {r.Timeouts}");
    }
}
finally
{
    await cts.CancelAsync();
    foreach (var p in processes)
    {
        try { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
        p.Dispose();
    }
    Run("ip", "netns", "del", guestNs);
    Run("ip", "netns", "del", hostNs);
    Directory.Delete(dir, recursive: true);
}

static async Task<(double Qps, double P50, double P99, int Timeouts)> Measure(string ns, string name, int workers, TimeSpan duration)
{
    var sockets = Enumerable.Range(0, workers).Select(_ => NetNamespace.RunIn(ns, () =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Connect(new IPEndPoint(IPAddress.Parse("192.168.127.1"), 53));
        return s;
    })).ToList();
    var latencies = new List<double>[workers];
    var timeouts = 0;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
    {
        var mine = latencies[w] = [];
        var buf = new byte[2048];
        ushort qid = (ushort)(w << 10);
        while (sw.Elapsed < duration)
        {
            var query = Query(++qid, name);
            var t0 = Stopwatch.GetTimestamp();
            await sockets[w].SendAsync(query, SocketFlags.None);
            using var to = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                int n;
                do n = await sockets[w].ReceiveAsync(buf, SocketFlags.None, to.Token);
                while (n < 12 || BinaryPrimitives.ReadUInt16BigEndian(buf) != qid);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref timeouts);
            }
        }
    }));
    var elapsed = sw.Elapsed.TotalSeconds;
    foreach (var s in sockets) s.Dispose();
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
    return (all.Length / elapsed, P(0.50), P(0.99), timeouts);
}

static byte[] Query(ushort id, string name)
{
    var b = new List<byte> { (byte)(id >> 8), (byte)id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    foreach (var l in name.Split('.'))
    {
        b.Add((byte)l.Length);
        b.AddRange(Encoding.ASCII.GetBytes(l));
    }
    b.AddRange([0, 0, 1, 0, 1]);
    return [.. b];
}

// Answers every query with its question and one A record 10.0.0.1 (TTL 60).
static async Task ServeUpstream(Socket s, CancellationToken ct)
{
    var buf = new byte[2048];
    while (!ct.IsCancellationRequested)
    {
        SocketReceiveFromResult r;
        try { r = await s.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), ct); }
        catch (OperationCanceledException) { return; }
        var n = r.ReceivedBytes;
        var end = 12;
        while (end < n && buf[end] != 0) end += 1 + buf[end];
        end += 5;
        if (end > n) continue;
        byte[] reply = [.. buf.AsSpan(0, end), 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1];
        reply[2] = 0x81;
        reply[3] = 0x80;
        reply[7] = 1;
        reply[10] = reply[11] = 0;
        await s.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint, ct);
    }
}

static string Run(params string[] cmd)
{
    using var p = Process.Start(Psi(cmd))!;
    var output = p.StandardOutput.ReadToEnd();
    p.StandardError.ReadToEnd();
    p.WaitForExit();
    return output;
}

static Process Start(params string[] cmd)
{
    var p = Process.Start(Psi(cmd))!;
    p.OutputDataReceived += (_, _) => { };
    p.ErrorDataReceived += (_, _) => { };
    p.BeginOutputReadLine();
    p.BeginErrorReadLine();
    return p;
}

static ProcessStartInfo Psi(string[] cmd)
{
    var psi = new ProcessStartInfo(cmd[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var a in cmd[1..]) psi.ArgumentList.Add(a);
    return psi;
}

static void Wait(Func<bool> condition, string what)
{
    var sw = Stopwatch.StartNew();
    while (!condition())
    {
        if (sw.Elapsed > TimeSpan.FromSeconds(40)) throw new TimeoutException($"timed out waiting for {what}");
        Thread.Sleep(100);
    }
}
