using System.Threading.Channels;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Links;

public sealed record LinkOptions(int MaxFrameLength = 4000, int SendQueueFrames = 1024, int WriteBatchBytes = 65536, int ReadBufferBytes = 65536, int InlineWriteBytes = 16384);

/// <summary>
/// A frame link: one reader loop that pumps received frames into an <see cref="IFrameSink"/>, and a bounded send
/// queue (overflow is a counted EgressQueueFull drop, never unbounded memory) drained by whoever holds the link's
/// write role: its writer loop, or — at the end of a <see cref="Burst"/> — the thread that queued the frames.
/// <see cref="RunAsync"/> completes when either loop ends (EOF, error, protocol violation or cancellation);
/// the reason is in <see cref="EndReason"/>.
/// </summary>
/// <remarks>
/// Writing inline saves the hand-off to the writer loop (a thread-pool wake-up and a context switch per frame forwarded)
/// for what a request/response or a connection set-up sends: a few frames at a time. It happens only when the link
/// can write without blocking (<see cref="SupportsInlineWrites"/>), nobody else is writing, and at most
/// <see cref="LinkOptions.InlineWriteBytes"/> are queued; bulk transfers stay with the writer loop, so reading and
/// writing overlap. Whatever an inline write cannot finish without blocking stays pending for the writer loop,
/// which writes it before anything queued later: frames leave in the order they were queued, whoever writes them.
/// </remarks>
public abstract class FrameLink : IDisposable, IAsyncDisposable
{
    [ThreadStatic] private static List<FrameLink>? t_burst;
    [ThreadStatic] private static List<Action>? t_burstEnd;

    private readonly Channel<FrameBuffer> _sendQueue;
    // Rung when the writer loop has work: frames queued outside a burst, a burst too big (or stuck) to finish inline.
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        SingleReader = true,
        SingleWriter = false,
        FullMode = BoundedChannelFullMode.DropWrite,
    });
    private int _writing; // 1 while a thread holds the write role
    private long _queuedBytes;
    private Exception? _inlineFailure;
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
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Description { get; }
    public LinkStats Stats { get; } = new();
    public string? EndReason { get; protected set; }
    protected FramePool Pool { get; }
    protected LinkOptions Options { get; }

    /// <summary>Whether <see cref="TryWriteInline"/> is implemented (it needs a transport that can be written without blocking).</summary>
    protected virtual bool SupportsInlineWrites => false;

    /// <summary>Whether an earlier write stopped part-way (would block) and left bytes that must go before the queue.</summary>
    protected virtual bool HasPendingWrite => false;

    /// <summary>Queues a frame for sending; ownership passes to the link. False (and the frame released) when the queue is full or the link is closed.</summary>
    public bool TrySend(FrameBuffer frame)
    {
        int length = frame.Length;
        if (!_sendQueue.Writer.TryWrite(frame))
        {
            Stats.Drops.Increment(DropReason.EgressQueueFull);
            frame.Release();
            return false;
        }
        // Within a burst the frame waits for the burst's end, unless the queue has outgrown an inline write: then the
        // writer loop starts now, as outside a burst, so a long burst (a bulk transfer) never holds frames back.
        if (Interlocked.Add(ref _queuedBytes, length) <= Options.InlineWriteBytes && t_burst is { } burst && SupportsInlineWrites)
        {
            if (!burst.Contains(this)) burst.Add(this);
        }
        else
        {
            _doorbell.Writer.TryWrite(true);
        }
        return true;
    }

    /// <summary>
    /// Starts a burst on the calling thread: frames queued on links until the returned scope is disposed are written
    /// then, on this thread, when the link allows it (see the remarks on <see cref="FrameLink"/>); otherwise the
    /// link's writer loop is woken as usual. Readers open one per batch they read; actors per message. Scopes nest
    /// (the outermost writes). The thread must not block or await inside the scope.
    /// </summary>
    public static BurstScope Burst()
    {
        if (t_burst is not null) return default;
        t_burst = new List<FrameLink>(2);
        return new BurstScope(t_burst);
    }

    /// <summary>Whether this thread is inside a <see cref="Burst"/>.</summary>
    public static bool InBurst => t_burst is not null;

    /// <summary>
    /// Runs <paramref name="action"/> on this thread when its burst ends, before the burst's frames are written (so
    /// frames the action queues go out with them). Without a burst it runs at once. For work that is cheaper done once
    /// per burst than once per frame, e.g. a connection that got several segments of one read.
    /// </summary>
    public static void AtEndOfBurst(Action action)
    {
        if (t_burst is null)
        {
            action();
            return;
        }
        (t_burstEnd ??= new List<Action>(2)).Add(action);
    }

    public readonly struct BurstScope : IDisposable
    {
        private readonly List<FrameLink>? _links;

        internal BurstScope(List<FrameLink> links) => _links = links;

        public void Dispose()
        {
            if (_links is null) return;
            try
            {
                try
                {
                    if (t_burstEnd is { Count: > 0 } actions) RunAll(actions);
                }
                finally
                {
                    // The burst's frames go out even if an action threw: nothing else would wake the writer for them.
                    for (int i = 0; i < _links.Count; i++) _links[i].EndOfBurst();
                }
            }
            finally
            {
                _links.Clear();
                t_burst = null;
            }
        }
    }

    /// <summary>Runs every action even if one throws (each may have work others wait for); the first exception is rethrown after.</summary>
    private static void RunAll(List<Action> actions)
    {
        Exception? first = null;
        for (int i = 0; i < actions.Count; i++)
        {
            try
            {
                actions[i]();
            }
            catch (Exception e)
            {
                first ??= e;
            }
        }
        actions.Clear();
        if (first is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
    }

    private void EndOfBurst()
    {
        while (HasWork)
        {
            if (Interlocked.Read(ref _queuedBytes) > Options.InlineWriteBytes || Volatile.Read(ref _disposed) != 0)
                break;
            if (Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                return; // the holder checks the queue again after it lets go
            bool finished;
            try
            {
                finished = TryWriteInline();
                Stats.CountInline(deferred: !finished);
            }
            catch (Exception e)
            {
                // Not this thread's to handle (it may be a reader of another link, or an actor): the writer loop ends the link with it.
                _inlineFailure ??= e;
                finished = false;
            }
            finally
            {
                Interlocked.Exchange(ref _writing, 0);
            }
            if (!finished) break;
        }
        if (HasWork) _doorbell.Writer.TryWrite(true);
    }

    private bool HasWork => _sendQueue.Reader.Count > 0 || HasPendingWrite;

    /// <summary>Takes the next queued frame (only the holder of the write role calls this).</summary>
    protected bool TryDequeue([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out FrameBuffer frame)
    {
        if (!_sendQueue.Reader.TryRead(out frame)) return false;
        Interlocked.Add(ref _queuedBytes, -frame.Length);
        return true;
    }

    /// <summary>Looks at the next queued frame without taking it.</summary>
    protected bool TryPeek([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out FrameBuffer frame) => _sendQueue.Reader.TryPeek(out frame);

    /// <summary>Runs the reader and writer until the first of them ends.</summary>
    public async Task RunAsync(IFrameSink sink, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = Task.Run(() => ReadLoopAsync(sink, cts.Token), CancellationToken.None);
        var writer = Task.Run(() => WriterLoopAsync(cts.Token), CancellationToken.None);
        var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
        EndReason ??= first.IsFaulted ? first.Exception!.GetBaseException().Message
                    : cancellationToken.IsCancellationRequested ? "cancelled"
                    : first == reader ? "peer closed the link" : "writer stopped";
        await cts.CancelAsync().ConfigureAwait(false);
        CloseTransport();
        try { await Task.WhenAll(reader, writer).ConfigureAwait(false); }
        catch (Exception) { /* the first failure is already recorded in EndReason */ }
        _sendQueue.Writer.TryComplete();
        _doorbell.Writer.TryComplete();
        while (_sendQueue.Reader.TryRead(out var f)) f.Release();
        if (first.IsFaulted && !cancellationToken.IsCancellationRequested)
            throw new LinkFailedException(Description, EndReason, first.Exception!.GetBaseException());
    }

    private async Task WriterLoopAsync(CancellationToken ct)
    {
        while (await _doorbell.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            _doorbell.Reader.TryRead(out _);
            while (true)
            {
                if (_inlineFailure is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                if (!HasWork || Interlocked.CompareExchange(ref _writing, 1, 0) != 0) break; // an inline writer checks again when it lets go
                try
                {
                    await WriteQueuedAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Exchange(ref _writing, 0);
                }
            }
        }
    }

    protected abstract Task ReadLoopAsync(IFrameSink sink, CancellationToken ct);

    /// <summary>
    /// Writes what is pending, then the queue until it is empty; may wait for the transport. Called by the writer loop
    /// while it holds the write role.
    /// </summary>
    protected abstract Task WriteQueuedAsync(CancellationToken ct);

    /// <summary>
    /// Writes what is pending, then the queue until it is empty, without ever blocking: false when the transport
    /// would block, with what it did not take kept pending (<see cref="HasPendingWrite"/>) for the writer loop.
    /// Called by a thread that holds the write role at the end of its burst.
    /// </summary>
    protected virtual bool TryWriteInline() => throw new NotSupportedException($"{GetType().Name} does not write inline");

    /// <summary>Closes the underlying transport so that blocked reads and writes return.</summary>
    protected abstract void CloseTransport();

    /// <summary>Closes the transport and returns every queued frame to its pool. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _sendQueue.Writer.TryComplete();
            _doorbell.Writer.TryComplete();
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
