#:project ../../RdNet.Actors/RdNet.Actors.csproj
#:property PublishAot=false
// wsl-proxy relay path in one process, loopback only: upstream servers on 127.0.0.1:P, the proxy's listeners on
// 127.0.0.2:P. Reports TCP bulk throughput through one relay, connect/exchange/close cycles per second, UDP
// request/reply round trips per second, and managed memory per open relayed connection.
// Usage: dotnet run -c Release bench/wsl-proxy/wsl-proxy-bench.cs
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using RdNet.Actors.WslProxy;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

var settings = new WslProxySettings(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(90), 1024, 4096, 65536, 64, 512,
    1 << 20, TimeSpan.FromSeconds(5), 16, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
using var system = ActorSystem.Create("bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING, akka.stdout-loglevel = WARNING"));
var drops = new DropCounters();
var proxy = system.ActorOf(WslProxyActor.Props(new WslProxyConfig(settings, IPAddress.Loopback, 65536, null, null, drops)));
var proxyIp = IPAddress.Parse("127.0.0.2");

Socket Listen(SocketType type)
{
    var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    if (type == SocketType.Stream) s.Listen(512);
    return s;
}

async Task Map(string proto, int port)
{
    proxy.Tell(new MappingDocument(System.Text.Encoding.UTF8.GetBytes($"{{\"ports\":{{\"{port}/{proto}\":[{{\"HostIp\":\"127.0.0.2\",\"HostPort\":\"{port}\"}}]}}}}"), "bench"));
    await proxy.Ask<Listeners>(GetListeners.Instance, TimeSpan.FromSeconds(5));
}

// 1. Bulk: the upstream sinks everything; the client streams 1 GiB.
using var sink = Listen(SocketType.Stream);
var sinkPort = ((IPEndPoint)sink.LocalEndPoint!).Port;
_ = Task.Run(async () =>
{
    while (true)
    {
        var c = await sink.AcceptAsync();
        _ = Task.Run(async () =>
        {
            var buf = new byte[1 << 16];
            while (await c.ReceiveAsync(buf) > 0) { }
            c.Dispose();
        });
    }
});
await Map("tcp", sinkPort);
const long Total = 1L << 30;
using (var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
{
    await c.ConnectAsync(new IPEndPoint(proxyIp, sinkPort));
    var chunk = new byte[1 << 16];
    var sw = Stopwatch.StartNew();
    for (long sent = 0; sent < Total; sent += chunk.Length) await c.SendAsync(chunk);
    c.Shutdown(SocketShutdown.Send);
    await c.ReceiveAsync(new byte[1]); // EOF once the relay has delivered everything and closed
    Console.WriteLine($"TCP bulk through one relay: {Total / sw.Elapsed.TotalSeconds / 1e6:F0} MB/s ({Total >> 20} MiB in {sw.Elapsed.TotalSeconds:F2} s)");
}

// 2. Cycles: connect, send 16 bytes, half-close, read the echo, close.
using var echo = Listen(SocketType.Stream);
var echoPort = ((IPEndPoint)echo.LocalEndPoint!).Port;
_ = Task.Run(async () =>
{
    while (true)
    {
        var c = await echo.AcceptAsync();
        _ = Task.Run(async () =>
        {
            var buf = new byte[256];
            int n;
            while ((n = await c.ReceiveAsync(buf)) > 0) await c.SendAsync(buf.AsMemory(0, n));
            c.Dispose();
        });
    }
});
await Map("tcp", echoPort);
{
    const int Cycles = 3000;
    var msg = new byte[16];
    var buf = new byte[64];
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < Cycles; i++)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(proxyIp, echoPort));
        await c.SendAsync(msg);
        c.Shutdown(SocketShutdown.Send);
        while (await c.ReceiveAsync(buf) > 0) { }
    }
    Console.WriteLine($"TCP connect/exchange/close cycles (sequential): {Cycles / sw.Elapsed.TotalSeconds:F0} /s");
}

// 3. UDP ping-pong through one flow.
using var udp = Listen(SocketType.Dgram);
var udpPort = ((IPEndPoint)udp.LocalEndPoint!).Port;
_ = Task.Run(async () =>
{
    var buf = new byte[65536];
    while (true)
    {
        var r = await udp.ReceiveFromAsync(buf, new IPEndPoint(IPAddress.Any, 0));
        await udp.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
    }
});
await Map("udp", udpPort);
{
    using var c = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    c.Connect(new IPEndPoint(proxyIp, udpPort));
    var msg = new byte[512];
    var buf = new byte[2048];
    const int Rounds = 20000;
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < Rounds; i++)
    {
        await c.SendAsync(msg);
        await c.ReceiveAsync(buf);
    }
    Console.WriteLine($"UDP request/reply round trips (512 B, one client): {Rounds / sw.Elapsed.TotalSeconds:F0} /s, {sw.Elapsed.TotalMicroseconds / Rounds:F0} us each");
}

// 4. Memory per open relayed connection (idle, both buffers allocated).
{
    const int Open = 1000;
    GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
    var before = GC.GetTotalMemory(true);
    var clients = new List<Socket>();
    for (var i = 0; i < Open; i++)
    {
        var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await c.ConnectAsync(new IPEndPoint(proxyIp, echoPort));
        clients.Add(c);
    }
    // Every relay has connected upstream once one round trip works on the last one.
    await clients[^1].SendAsync(new byte[1]);
    await clients[^1].ReceiveAsync(new byte[1]);
    await Task.Delay(1000);
    var after = GC.GetTotalMemory(true);
    Console.WriteLine($"Managed memory per open relayed connection: {(after - before) / (double)Open / 1024:F0} KiB (relay-buffer-bytes = {settings.RelayBufferBytes}, two buffers)");
    foreach (var c in clients) c.Dispose();
}
Console.WriteLine($"drops: {(drops.Total == 0 ? "none" : string.Join(", ", drops.Snapshot()))}");
await system.Terminate();
