using System.Threading.Channels;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Links;

public sealed record LinkOptions(int MaxFrameLength = 4000, int SendQueueFrames = 1024, int WriteBatchBytes = 65536, int ReadBufferBytes = 65536);

/// <summary>
/// A frame link: one reader loop that pumps received frames into an <see cref="IFrameSink"/> and one writer loop
/// that drains a bounded send queue (overflow is a counted EgressQueueFull drop, never unbounded memory).
/// <see cref="RunAsync"/> completes when either loop ends (EOF, error, protocol violation or cancellation);
/// the reason is in <see cref="EndReason"/>.
/// </summary>
public abstract class FrameLink : IDisposable, IAsyncDisposable
{
    private readonly Channel<FrameBuffer> _sendQueue;
    private int _disposed;

    protected FrameLink(string description, FramePool pool, LinkOptions options)
    {
        if (options.MaxFrameLength > pool.BufferSize)
            throw new ArgumentOutOfRangeException(nameof(options), $"the link accepts frames up to {options.MaxFrameLength} bytes but its pool's largest buffer is {pool.BufferSize}");
        Description = description;
        Pool = pool;
        Options = options;
        _sendQueue = Channel.CreateBounded<FrameBuffer>(new BoundedChannelOptions(options.SendQueueFrames)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Description { get; }
    public LinkStats Stats { get; } = new();
    public string? EndReason { get; protected set; }
    protected FramePool Pool { get; }
    protected LinkOptions Options { get; }
    protected ChannelReader<FrameBuffer> SendQueue => _sendQueue.Reader;

    /// <summary>Queues a frame for sending; ownership passes to the link. False (and the frame released) when the queue is full or the link is closed.</summary>
    public bool TrySend(FrameBuffer frame)
    {
        if (_sendQueue.Writer.TryWrite(frame)) return true;
        Stats.Drops.Increment(DropReason.EgressQueueFull);
        frame.Release();
        return false;
    }

    /// <summary>Runs the reader and writer until the first of them ends.</summary>
    public async Task RunAsync(IFrameSink sink, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = Task.Run(() => ReadLoopAsync(sink, cts.Token), CancellationToken.None);
        var writer = Task.Run(() => WriteLoopAsync(cts.Token), CancellationToken.None);
        var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
        EndReason ??= first.IsFaulted ? first.Exception!.GetBaseException().Message
                    : cancellationToken.IsCancellationRequested ? "cancelled"
                    : first == reader ? "peer closed the link" : "writer stopped";
        await cts.CancelAsync().ConfigureAwait(false);
        CloseTransport();
        try { await Task.WhenAll(reader, writer).ConfigureAwait(false); }
        catch (Exception) { /* the first failure is already recorded in EndReason */ }
        _sendQueue.Writer.TryComplete();
        while (_sendQueue.Reader.TryRead(out var f)) f.Release();
        if (first.IsFaulted && !cancellationToken.IsCancellationRequested)
            throw new LinkFailedException(Description, EndReason, first.Exception!.GetBaseException());
    }

    protected abstract Task ReadLoopAsync(IFrameSink sink, CancellationToken ct);

    protected abstract Task WriteLoopAsync(CancellationToken ct);

    /// <summary>Closes the underlying transport so that blocked reads and writes return.</summary>
    protected abstract void CloseTransport();

    /// <summary>Closes the transport and returns every queued frame to its pool. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _sendQueue.Writer.TryComplete();
            CloseTransport();
            while (_sendQueue.Reader.TryRead(out var f)) f.Release();
        }
        GC.SuppressFinalize(this);
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public override string ToString() => Description;
}

public sealed class LinkFailedException(string link, string reason, Exception inner)
    : Exception($"link {link} failed: {reason}", inner)
{
    public string Link { get; } = link;
}

/// <summary>Raised by a reader loop when the peer violates the framing; the link ends, nothing else is affected.</summary>
public sealed class LinkProtocolException(DropReason reason, string message) : Exception(message)
{
    public DropReason Reason { get; } = reason;
}
