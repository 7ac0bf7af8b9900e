using System.Net.Sockets;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;

namespace RdNet.Actors.Tests.Handshake;

/// <summary>
/// A scripted network-setup for the host side's tests: listens on the handshake endpoint, writes a phrase (or
/// nothing, or garbage) to each connection, and on READY dials the data endpoint now, late, or never.
/// </summary>
public sealed class FakeGuest : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<Socket> _dataLinks = [];
    private int _readies;

    public FakeGuest(LinkEndpoint handshake, LinkEndpoint data)
    {
        Handshake = handshake;
        Data = data;
        _listener = handshake.Listen();
        Task.Run(AcceptLoop);
    }

    public LinkEndpoint Handshake { get; }
    public LinkEndpoint Data { get; }

    /// <summary>What is written to each connection; null writes nothing (a silent peer).</summary>
    public byte[]? Phrase { get; set; } = HandshakeSignature.CurrentPhrase.ToArray();

    /// <summary>Delay before dialling the data endpoint for the n-th READY (1-based); null means never dial.</summary>
    public Func<int, TimeSpan?> DialDelay { get; set; } = _ => TimeSpan.Zero;

    public int Readies => Volatile.Read(ref _readies);
    public int Connections;

    public IReadOnlyList<Socket> DataLinks
    {
        get { lock (_dataLinks) return [.. _dataLinks]; }
    }

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_cts.Token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref Connections);
            _ = Task.Run(() => Serve(s));
        }
    }

    private async Task Serve(Socket s)
    {
        using (s)
        {
            try
            {
                if (Phrase is null)
                {
                    await Task.Delay(Timeout.Infinite, _cts.Token);
                    return;
                }
                await s.SendAsync(Phrase);
                var buf = new byte[5];
                var got = 0;
                while (got < 5)
                {
                    var n = await s.ReceiveAsync(buf.AsMemory(got), _cts.Token);
                    if (n == 0) return; // a probe
                    got += n;
                }
                if (!buf.AsSpan().SequenceEqual(HandshakeSignature.Ready)) return;
            }
            catch (Exception) { return; }
        }
        var nth = Interlocked.Increment(ref _readies);
        if (DialDelay(nth) is not { } delay) return;
        try
        {
            await Task.Delay(delay, _cts.Token);
            var link = await Data.ConnectAsync(_cts.Token);
            lock (_dataLinks) _dataLinks.Add(link);
        }
        catch (Exception) { }
    }

    public void Dispose()
    {
        _cts.Cancel();
        _listener.Dispose();
        lock (_dataLinks) foreach (var l in _dataLinks) l.Dispose();
        try { File.Delete(Handshake.Path); } catch (IOException) { }
        _cts.Dispose();
    }
}
