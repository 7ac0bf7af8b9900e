using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

// TCP connection benchmarks for bench/tcp/compare.sh, in C# so the figures are not limited by a Python interpreter.
// The wire protocol is the one of netbench.py: the server echoes what it reads and closes after the echo when the
// request starts with 'S' (the server closes first); otherwise the client closes.
//
//   server PORT                          echo server on 0.0.0.0:PORT (async; also holds idle connections)
//   rate HOST PORT SECS server|client    sequential connect + 32-byte request + reply + close for SECS seconds;
//                                        prints "<connections per second> <errors>"
//   hold HOST PORT N                     opens N connections and keeps them open and idle; prints "ready <opened> <errors>"
//                                        once all are open, then holds them until the process is killed
var inv = CultureInfo.InvariantCulture;
if (args.Length < 2) return Usage();
switch (args[0])
{
    case "server" when args.Length == 2:
        await Serve(int.Parse(args[1], inv));
        return 0;
    case "rate" when args.Length == 5 && args[4] is "server" or "client":
        Rate(IPAddress.Parse(args[1]), int.Parse(args[2], inv), double.Parse(args[3], inv), args[4] == "server");
        return 0;
    case "hold" when args.Length == 4:
        await Hold(IPAddress.Parse(args[1]), int.Parse(args[2], inv), int.Parse(args[3], inv));
        return 0;
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: server PORT | rate HOST PORT SECS server|client | hold HOST PORT N");
    return 2;
}

static async Task Serve(int port)
{
    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
    listener.Bind(new IPEndPoint(IPAddress.Any, port));
    listener.Listen(4096);
    while (true)
    {
        var c = await listener.AcceptAsync();
        _ = Task.Run(() => Echo(c));
    }
}

static async Task Echo(Socket c)
{
    using (c)
    {
        c.NoDelay = true;
        var buf = new byte[65536];
        try
        {
            while (true)
            {
                int n = await c.ReceiveAsync(buf, SocketFlags.None);
                if (n == 0) return;
                int sent = 0;
                while (sent < n) sent += await c.SendAsync(buf.AsMemory(sent, n - sent), SocketFlags.None);
                if (buf[0] == (byte)'S') return; // the server closes first
            }
        }
        catch (SocketException)
        {
            // the client reset: nothing to echo
        }
    }
}

static void Rate(IPAddress host, int port, double secs, bool serverCloses)
{
    var msg = new byte[32];
    Array.Fill(msg, serverCloses ? (byte)'S' : (byte)'C');
    var got = new byte[64];
    var ep = new IPEndPoint(host, port);
    long ok = 0, errors = 0;
    var clock = Stopwatch.StartNew();
    var limit = TimeSpan.FromSeconds(secs);
    while (clock.Elapsed < limit)
    {
        try
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            {
                NoDelay = true, ReceiveTimeout = 5000, SendTimeout = 5000,
            };
            s.Connect(ep);
            s.Send(msg);
            int have = 0;
            while (have < msg.Length)
            {
                int n = s.Receive(got, have, got.Length - have, SocketFlags.None);
                if (n == 0) break;
                have += n;
            }
            bool good = have == msg.Length && got.AsSpan(0, have).SequenceEqual(msg);
            if (serverCloses && good) good = s.Receive(got) == 0; // wait for the server's FIN
            if (good) ok++;
            else errors++;
        }
        catch (SocketException)
        {
            errors++;
        }
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ok / secs:F0} {errors}"));
}

static async Task Hold(IPAddress host, int port, int count)
{
    var ep = new IPEndPoint(host, port);
    var sockets = new List<Socket>(count);
    int errors = 0;
    // A few connects in flight at a time: the number the stack holds open is the measurement, not the connect burst.
    using var gate = new SemaphoreSlim(32);
    var tasks = Enumerable.Range(0, count).Select(async _ =>
    {
        await gate.WaitAsync();
        try
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await s.ConnectAsync(ep, cts.Token);
            lock (sockets) sockets.Add(s);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            Interlocked.Increment(ref errors);
        }
        finally
        {
            gate.Release();
        }
    }).ToArray();
    await Task.WhenAll(tasks);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready {sockets.Count} {errors}"));
    Console.Out.Flush();
    // Held until a signal ends the process (the kernel closes them then).
    await Task.Delay(Timeout.Infinite);
    GC.KeepAlive(sockets);
}
