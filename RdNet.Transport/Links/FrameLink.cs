using System.Diagnostics;
using System.Threading.Channels;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Links;

public sealed record LinkOptions(int MaxFrameLength = 4000, int SendQueueFrames = 1024, int WriteBatchBytes = 65536, int ReadBufferBytes = 65536)
{
    /// <summary>
    /// A frame queued on a link whose writer has been idle at least this long is written by the sending thread itself
    /// (when the transport takes it at once), not by waking the writer loop: a request/response exchange saves a
    /// thread wake-up per frame, while back-to-back frames still queue and go out in batches. Zero: never.
    /// </summary>
    public TimeSpan InlineWriteIdle { get; init; } = TimeSpan.FromMicroseconds(50);
}

/// <summary>
/// A frame link: one reader loop that pumps received frames into an <see cref="IFrameSink"/> and one writer loop
/// that drains a bounded send queue (overflow is a counted EgressQueueFull drop, never unbounded memory).
/// <see cref="RunAsync"/> completes when either loop ends (EOF, error, protocol violation or cancellation);
/// the reason is in <see cref="EndReason"/>.
/// Writes to the transport are serialised by a write gate: the writer loop holds it per batch, and a sender that
/// finds the link idle (queue empty, nothing written for <see cref="LinkOptions.InlineWriteIdle"/>) takes it to
/// write its frame itself (<see cref="TryWriteInline"/>), so frame order on the wire is the order of the queue.
/// </summary>
public abstract class FrameLink : IDisposable, IAsyncDisposable
{
    private readonly Channel<FrameBuffer> _sendQueue;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly long _inlineIdleTicks;
    // Queued only to wake the writer loop (e.g. to finish an inline write the transport took in part); never released.
    private readonly FrameBuffer _wake;
    private long _lastWrite;
    private int _disposed;
    private volatile bool _running;

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
        _inlineIdleTicks = options.InlineWriteIdle <= TimeSpan.Zero ? -1 : (long)(options.InlineWriteIdle.TotalSeconds * Stopwatch.Frequency);
        _wake = new FrameBuffer(pool, 0);
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
        if (_inlineIdleTicks >= 0 && TrySendInline(frame)) return true;
        if (_sendQueue.Writer.TryWrite(frame)) return true;
        Stats.Drops.Increment(DropReason.EgressQueueFull);
        frame.Release();
        return false;
    }

    private bool TrySendInline(FrameBuffer frame)
    {
        if (Stopwatch.GetTimestamp() - Volatile.Read(ref _lastWrite) < _inlineIdleTicks || !_writeGate.Wait(0)) return false;
        try
        {
            // Under the gate: anything queued goes first (the writer loop will take it), so the frame queues behind it.
            // Only while the writer loop runs: before, frames wait for it; after, they are drops like any other.
            if (!_running || Volatile.Read(ref _disposed) != 0 || _sendQueue.Reader.Count != 0) return false;
            return TryWriteInline(frame);
        }
        finally
        {
            ExitWrite();
        }
    }

    /// <summary>
    /// Writes <paramref name="frame"/> on the calling thread without blocking, with the write gate held and the queue
    /// empty. True: the frame is written (or its tail kept for the writer loop, see <see cref="WakeWriter"/>), counted
    /// and released. False: nothing was written; the caller queues the frame. Must not throw.
    /// </summary>
    protected virtual bool TryWriteInline(FrameBuffer frame) => false;

    /// <summary>The writer loop takes the write gate around each batch it writes.</summary>
    protected Task EnterWriteAsync(CancellationToken ct) => _writeGate.WaitAsync(ct);

    protected void ExitWrite()
    {
        Volatile.Write(ref _lastWrite, Stopwatch.GetTimestamp());
        _writeGate.Release();
    }

    /// <summary>Makes the writer loop run even with nothing queued (an inline write left work for it).</summary>
    protected void WakeWriter() => _sendQueue.Writer.TryWrite(_wake);

    /// <summary>Whether a queued item is the writer's wake-up rather than a frame (skip it; do not release it).</summary>
    protected bool IsWake(FrameBuffer frame) => ReferenceEquals(frame, _wake);

    private void ReleaseQueued()
    {
        while (_sendQueue.Reader.TryRead(out var f))
        {
            if (!IsWake(f)) f.Release();
        }
    }

    /// <summary>Runs the reader and writer until the first of them ends.</summary>
    public async Task RunAsync(IFrameSink sink, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _running = true;
        var reader = Task.Run(() => ReadLoopAsync(sink, cts.Token), CancellationToken.None);
        var writer = Task.Run(() => WriteLoopAsync(cts.Token), CancellationToken.None);
        var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
        EndReason ??= first.IsFaulted ? first.Exception!.GetBaseException().Message
                    : cancellationToken.IsCancellationRequested ? "cancelled"
                    : first == reader ? "peer closed the link" : "writer stopped";
        _running = false;
        await cts.CancelAsync().ConfigureAwait(false);
        CloseTransport();
        try { await Task.WhenAll(reader, writer).ConfigureAwait(false); }
        catch (Exception) { /* the first failure is already recorded in EndReason */ }
        _sendQueue.Writer.TryComplete();
        ReleaseQueued();
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
            ReleaseQueued();
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
