using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using RdNet.Actors.Switch;
using RdNet.Transport.Buffers;
using RdNet.Transport.Framing;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;
using static RdNet.Actors.Switch.SwitchProtocol;

// The switch path in one process: a sender writes framed 1514-byte frames into a unix socket, host-switch's
// reader → RouterActor → PortActor → batching writer carry them to a second unix socket, a receiver counts them.
// Reports frames/s and managed bytes allocated per switched frame (the "no allocation per hop" claim).
// Usage: dotnet run -c Release --project bench/RdNet.Bench [seconds]
var seconds = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
const int FrameLength = 1514;
var dir = Directory.CreateTempSubdirectory("rdnet-bench-").FullName;
using var system = ActorSystem.Create("bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING, akka.stdout-loglevel = WARNING"));
var pool = new FramePool(8192, 4000);
var router = system.ActorOf(RouterActor.Props(new RouterOptions(4096, TimeSpan.FromMinutes(5), TimeSpan.Zero, 8)), "switch");

async Task<(Socket Outside, Socket Inside)> Pair(string name)
{
    var ep = LinkEndpoint.Parse($"unix://{dir}/{name}.sock");
    using var l = ep.Listen();
    var c = ep.ConnectAsync(CancellationToken.None);
    var inside = await l.AcceptAsync();
    return (await c, inside);
}

var (senderSock, inA) = await Pair("a");
var (receiverSock, inB) = await Pair("b");
router.Tell(new AttachLink(new StreamLink(inA, "a", pool, new LinkOptions()), "a"));
router.Tell(new AttachLink(new StreamLink(inB, "b", pool, new LinkOptions()), "b"));

var macA = new MacAddress(0x0200_0000_000A);
var macB = new MacAddress(0x0200_0000_000B);
byte[] Encoded(MacAddress dst, MacAddress src, int count)
{
    var frame = new byte[FrameLength];
    EthernetFrame.WriteHeader(frame, dst, src, EtherType.Ipv4);
    var buf = new byte[count * (FrameLength + 2)];
    for (int i = 0; i < count; i++) FrameCodec.Encode(buf.AsSpan(i * (FrameLength + 2)), frame);
    return buf;
}
// Teach the switch where B lives, then stream A → B.
await receiverSock.SendAsync(Encoded(MacAddress.Broadcast, macB, 1));
await Task.Delay(200);
var batch = Encoded(macB, macA, 32);

long received = 0;
using var cts = new CancellationTokenSource();
var rx = Task.Run(async () =>
{
    var buf = new byte[1 << 20];
    long bytes = 0;
    while (!cts.IsCancellationRequested)
    {
        int n;
        try { n = await receiverSock.ReceiveAsync(buf, SocketFlags.None, cts.Token); } catch (OperationCanceledException) { break; }
        if (n == 0) break;
        bytes += n;
        Interlocked.Exchange(ref received, bytes / (FrameLength + 2));
    }
});
var tx = Task.Run(async () =>
{
    var sent = 0L;
    while (!cts.IsCancellationRequested)
    {
        // Stay at most ~4k frames ahead of the receiver: the bench measures the switch, not drops.
        while (!cts.IsCancellationRequested && sent - Interlocked.Read(ref received) > 4096) await Task.Yield();
        try { await senderSock.SendAsync(batch, SocketFlags.None, cts.Token); } catch (OperationCanceledException) { break; }
        sent += 32;
    }
});

await Task.Delay(1000); // warm-up
var r0 = Interlocked.Read(ref received);
var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
var gc0 = GC.CollectionCount(0);
var sw = Stopwatch.StartNew();
await Task.Delay(TimeSpan.FromSeconds(seconds));
var frames = Interlocked.Read(ref received) - r0;
var allocated = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
var gcs = GC.CollectionCount(0) - gc0;
var elapsed = sw.Elapsed.TotalSeconds;
await cts.CancelAsync();
var stats = await router.Ask<RouterStats>(GetStats.Instance, TimeSpan.FromSeconds(5));
Console.WriteLine($"switch path (unix socket → router → unix socket), {FrameLength}-byte frames, {elapsed:F1} s");
Console.WriteLine($"  frames/s:              {frames / elapsed:N0}");
Console.WriteLine($"  payload MB/s:          {frames * FrameLength / elapsed / 1e6:N0}");
Console.WriteLine($"  bytes allocated/frame: {(frames == 0 ? 0 : (double)allocated / frames):F1} (whole process, all threads)");
Console.WriteLine($"  gen0 collections:      {gcs}");
Console.WriteLine($"  drops:                 {(stats.Drops.Count == 0 ? "none" : string.Join(", ", stats.Drops.Select(d => $"{d.Key}={d.Value}")))}");
senderSock.Dispose();
receiverSock.Dispose();
await system.Terminate();
Directory.Delete(dir, true);
