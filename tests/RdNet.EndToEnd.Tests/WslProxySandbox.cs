using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RdNet.Transport.Linux;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// wsl-proxy's world, made by the test: a stand-in for the VM's default namespace (rdne-w-&lt;id&gt;, where wsl-proxy
/// runs and its listeners open, so nothing ever listens in the machine's own namespace) and an upstream namespace
/// (rdne-u-&lt;id&gt;, standing for the Rancher Desktop namespace) joined by a veth pair: 192.168.143.2 on the
/// stand-in side, 192.168.143.1 upstream. The control socket is a file in a temp folder. Everything is removed on Dispose.
/// </summary>
public sealed class WslProxySandbox : IDisposable
{
    public const string UpstreamAddress = "192.168.143.1";
    private readonly List<ChildProcess> _processes = [];
    private readonly List<IDisposable> _sockets = [];
    private readonly CancellationTokenSource _stop = new();

    public WslProxySandbox()
    {
        if (Environment.UserName != "root")
            throw new InvalidOperationException("end-to-end tests create network namespaces and must run as root");
        var id = Random.Shared.Next(0, 0xFFFFFF).ToString("x6", CultureInfo.InvariantCulture);
        DefaultNs = $"rdne-w-{id}";
        UpstreamNs = $"rdne-u-{id}";
        var vethW = $"rdw{id}w";
        var vethU = $"rdw{id}u";
        Dir = Directory.CreateTempSubdirectory("rdne-wsl-").FullName;
        Harness.Require(Harness.Ip("netns", "add", DefaultNs), "ip netns add");
        Harness.Require(Harness.Ip("netns", "add", UpstreamNs), "ip netns add");
        Harness.Require(Harness.Ip("link", "add", vethW, "netns", DefaultNs, "type", "veth", "peer", "name", vethU, "netns", UpstreamNs), "ip link add veth");
        Harness.Require(Harness.Ip("-n", DefaultNs, "addr", "add", "192.168.143.2/24", "dev", vethW), "addr w");
        Harness.Require(Harness.Ip("-n", UpstreamNs, "addr", "add", UpstreamAddress + "/24", "dev", vethU), "addr u");
        foreach (var (ns, dev) in new[] { (DefaultNs, vethW), (UpstreamNs, vethU), (DefaultNs, "lo"), (UpstreamNs, "lo") })
            Harness.Require(Harness.Ip("-n", ns, "link", "set", dev, "up"), $"{dev} up");
        SocketPath = Path.Combine(Dir, "wsl-proxy.sock");
        LogPath = Path.Combine(Dir, "wsl-proxy.log");
        // Started under its role name with Go-style flags, as Rancher Desktop starts it.
        WslProxyLink = Path.Combine(Dir, "wsl-proxy");
        File.CreateSymbolicLink(WslProxyLink, Harness.RdnetPath);
    }

    public string DefaultNs { get; }
    public string UpstreamNs { get; }
    public string Dir { get; }
    public string SocketPath { get; }
    public string LogPath { get; }
    public string WslProxyLink { get; }

    public ChildProcess StartWslProxy(params string[] extra)
    {
        var p = new ChildProcess("ip", ["netns", "exec", DefaultNs, WslProxyLink, $"-socketFile={SocketPath}", $"-upstreamAddress={UpstreamAddress}", $"-logfile={LogPath}", .. extra], "wsl-proxy");
        _processes.Add(p);
        return p;
    }

    public CommandResult InDefault(params string[] command) => Harness.Run("ip", ["netns", "exec", DefaultNs, .. command]);

    /// <summary>Writes one PortMapping to the control socket, as the guest agent does (one document, then close).</summary>
    public async Task SendMapping(string json)
    {
        using var c = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await c.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        await c.SendAsync(Encoding.UTF8.GetBytes(json + "\n"));
    }

    /// <summary>A socket created inside a namespace (it stays there whatever thread uses it later).</summary>
    public static Socket SocketIn(string ns, AddressFamily family, SocketType type, ProtocolType protocol) =>
        NetNamespace.RunIn(ns, () => new Socket(family, type, protocol));

    /// <summary>Upstream HTTP server on 192.168.143.1:port answering every request with <paramref name="body"/>.</summary>
    public void StartUpstreamHttp(int port, string body)
    {
        var server = Listen(port);
        Serve(server, async c =>
        {
            var buf = new byte[4096];
            var got = new StringBuilder();
            while (!got.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await c.ReceiveAsync(buf);
                if (n == 0) return;
                got.Append(Encoding.ASCII.GetString(buf, 0, n));
            }
            var bytes = Encoding.UTF8.GetBytes(body);
            await c.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"));
            await c.SendAsync(bytes);
        });
    }

    /// <summary>Upstream TCP server that reads until the client's EOF, then answers "echo:" + everything read and closes.</summary>
    public void StartUpstreamEchoAfterEof(int port)
    {
        var server = Listen(port);
        Serve(server, async c =>
        {
            var all = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = await c.ReceiveAsync(buf)) > 0) all.Write(buf, 0, n);
            await c.SendAsync(Encoding.UTF8.GetBytes("echo:").Concat(all.ToArray()).ToArray());
            c.Shutdown(SocketShutdown.Send);
        });
    }

    /// <summary>Upstream UDP server on 192.168.143.1:port answering each datagram with "echo:" + the datagram, to its sender.</summary>
    public void StartUpstreamUdpEcho(int port)
    {
        var s = SocketIn(UpstreamNs, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Parse(UpstreamAddress), port));
        _sockets.Add(s);
        _ = Task.Run(async () =>
        {
            var buf = new byte[65536];
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var r = await s.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                    await s.SendToAsync(Encoding.UTF8.GetBytes("echo:").Concat(buf.Take(r.ReceivedBytes)).ToArray(), r.RemoteEndPoint);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    if (e is not SocketException) return;
                }
            }
        });
    }

    private Socket Listen(int port)
    {
        var s = SocketIn(UpstreamNs, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Parse(UpstreamAddress), port));
        s.Listen(64);
        _sockets.Add(s);
        return s;
    }

    private void Serve(Socket server, Func<Socket, Task> handle) => _ = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket c;
            try
            {
                c = await server.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var _ = c;
                try
                {
                    await handle(c);
                }
                catch (SocketException)
                {
                }
            });
        }
    });

    public string Diagnostics() =>
        string.Join("\n", _processes.Select(p => $"--- {p.Name} (exited: {p.HasExited}) ---\n{p.Output}"));

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var s in _sockets) s.Dispose();
        foreach (var p in _processes) p.Dispose();
        Harness.Ip("netns", "del", DefaultNs); // takes the veth pair with it
        Harness.Ip("netns", "del", UpstreamNs);
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        _stop.Dispose();
    }
}
