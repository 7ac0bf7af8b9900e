using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Links;

/// <summary>Per-link counters, updated from the reader and writer loops.</summary>
public sealed class LinkStats
{
    private long _framesIn, _bytesIn, _framesOut, _bytesOut, _writes, _inlineWrites, _inlineDeferred;

    public DropCounters Drops { get; } = new();
    public long FramesIn => Interlocked.Read(ref _framesIn);
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    public long FramesOut => Interlocked.Read(ref _framesOut);
    public long BytesOut => Interlocked.Read(ref _bytesOut);

    /// <summary>Number of write system calls (or their equivalent): FramesOut / Writes is the batching factor.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Passes over the send queue made by the thread that queued the frames, at the end of its burst (<see cref="FrameLink.Burst"/>).</summary>
    public long InlineWrites => Interlocked.Read(ref _inlineWrites);

    /// <summary>Of those, the ones that found the transport full and left the rest to the writer loop.</summary>
    public long InlineDeferred => Interlocked.Read(ref _inlineDeferred);

    internal void CountInline(bool deferred)
    {
        Interlocked.Increment(ref _inlineWrites);
        if (deferred) Interlocked.Increment(ref _inlineDeferred);
    }

    internal void CountIn(int bytes) { Interlocked.Increment(ref _framesIn); Interlocked.Add(ref _bytesIn, bytes); }
    internal void CountOut(int frames, int bytes) { Interlocked.Add(ref _framesOut, frames); Interlocked.Add(ref _bytesOut, bytes); Interlocked.Increment(ref _writes); }
}
