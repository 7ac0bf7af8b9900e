using System.Threading.Channels;
using RdNet.Transport.Buffers;

namespace RdNet.Transport.Links;

/// <summary>
/// Two in-process link ends joined back to back, for tests: what one end sends, the other end's sink receives.
/// Either end's <see cref="Close"/> ends both, like a socket EOF.
/// </summary>
public sealed class InMemoryLink : FrameLink
{
    private readonly Channel<FrameBuffer> _inbox;
    private InMemoryLink? _peer;
    private readonly CancellationTokenSource _closed = new();

    private InMemoryLink(string description, FramePool pool, LinkOptions options) : base(description, pool, options)
    {
        _inbox = Channel.CreateUnbounded<FrameBuffer>(new UnboundedChannelOptions { SingleReader = true });
    }

    public static (InMemoryLink A, InMemoryLink B) CreatePair(FramePool pool, LinkOptions? options = null, string name = "mem")
    {
        var a = new InMemoryLink($"{name}:a", pool, options ?? new LinkOptions());
        var b = new InMemoryLink($"{name}:b", pool, options ?? new LinkOptions());
        a._peer = b;
        b._peer = a;
        return (a, b);
    }

    public void Close()
    {
        if (!_closed.IsCancellationRequested) _closed.Cancel();
        if (_peer is { _closed.IsCancellationRequested: false } p) p._closed.Cancel();
    }

    protected override async Task ReadLoopAsync(IFrameSink sink, CancellationToken ct)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        try
        {
            await foreach (var frame in _inbox.Reader.ReadAllAsync(both.Token).ConfigureAwait(false))
            {
                Stats.CountIn(frame.Length);
                sink.Deliver(frame);
            }
        }
        catch (OperationCanceledException) when (_closed.IsCancellationRequested)
        {
            // peer closed: a clean EOF
        }
    }

    protected override Task WriteQueuedAsync(CancellationToken ct)
    {
        while (TryDequeue(out var frame))
        {
            Stats.CountOut(1, frame.Length);
            if (!_peer!._inbox.Writer.TryWrite(frame)) frame.Release();
        }
        return Task.CompletedTask;
    }

    protected override void CloseTransport()
    {
        Close();
        while (_inbox.Reader.TryRead(out var f)) f.Release();
    }
}
