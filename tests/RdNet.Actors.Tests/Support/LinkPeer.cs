using System.Collections.Concurrent;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Actors.Tests.Support;

/// <summary>The test's end of a link: sends raw frames and collects what the switch delivers.</summary>
public sealed class LinkPeer : IFrameSink, IDisposable
{
    private readonly BlockingCollection<byte[]> _received = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly FramePool _pool;

    public LinkPeer(FrameLink link, FramePool pool)
    {
        Link = link;
        _pool = pool;
        Run = link.RunAsync(this, _cts.Token);
    }

    public FrameLink Link { get; }
    public Task Run { get; }

    public void Deliver(FrameBuffer frame)
    {
        _received.Add(frame.Span.ToArray());
        frame.Release();
    }

    public void Send(byte[] frame)
    {
        var b = _pool.TryRent() ?? throw new InvalidOperationException("pool exhausted in test");
        frame.CopyTo(b.Array, 0);
        b.SetLength(frame.Length);
        Link.TrySend(b);
    }

    /// <summary>The next frame matching <paramref name="match"/> within the timeout, skipping others; null if none.</summary>
    public byte[]? Receive(TimeSpan timeout, Func<byte[], bool>? match = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_received.TryTake(out var f, left)) return null;
            if (match is null || match(f)) return f;
        }
    }

    public void Dispose()
    {
        _cts.Cancel();
        try { Run.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        Link.Dispose();
        _cts.Dispose();
        _received.Dispose();
    }
}
