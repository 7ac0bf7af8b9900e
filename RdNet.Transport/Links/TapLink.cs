using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Linux;
using RdNet.Transport.Offload;

namespace RdNet.Transport.Links;

/// <summary>
/// A link to a TAP device (IFF_TAP|IFF_NO_PI): one read or write system call per frame, which is how the
/// kernel's tun driver works. The reader runs on a dedicated thread (poll + read, no thread-pool blocking).
/// On a tap with a virtio-net header, the writer joins the TCP data segments of one connection that are queued
/// back to back into one GSO write (<see cref="TcpSegmentCoalescer"/>): the guest kernel takes a burst of up to
/// 64 KiB in one pass and acknowledges it once. Nothing waits to be joined: the run is written when the queue is empty.
/// The tap is non-blocking, so the thread that queued a few frames may write them itself (<see cref="FrameLink.Burst"/>).
/// </summary>
public sealed class TapLink : FrameLink
{
    private const int PollMilliseconds = 200;

    /// <summary>The largest frame a tap can hand over: its largest MTU (65535) plus an Ethernet header with a VLAN tag.</summary>
    public const int MaxTapFrameLength = ushort.MaxValue + 14 + 4;
    private readonly TapDevice _tap;
    // Held by whoever has the write role (FrameLink): the run being joined, and writes the tap refused, in order.
    private readonly TcpSegmentCoalescer? _run;
    private readonly byte[] _plainHeader = new byte[VirtioNetHeader.Length];
    private readonly Queue<(byte[] Bytes, int Frames, int FrameBytes)> _stalled = new();

    public TapLink(TapDevice tap, FramePool pool, LinkOptions options) : base($"tap:{tap.Name}", pool, options)
    {
        _tap = tap;
        if (tap.HasVirtioNetHeader) _run = new TcpSegmentCoalescer();
    }

    protected override Task ReadLoopAsync(IFrameSink sink, CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ReadLoop(sink, ct);
                done.TrySetResult();
            }
            catch (Exception e) when (ct.IsCancellationRequested)
            {
                _ = e;
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        { IsBackground = true, Name = $"tap-reader-{_tap.Name}" };
        thread.Start();
        return done.Task;
    }

    private void ReadLoop(IFrameSink sink, CancellationToken ct)
    {
        // Every read goes into one buffer that holds the largest frame a tap can carry, so the kernel never truncates
        // one; the frame is then copied into a pooled buffer of its own size class (a 1514-byte frame does not hold a
        // 64 KiB buffer while it crosses the switch). A frame above MaxFrameLength is a counted drop.
        int header = _tap.HasVirtioNetHeader ? VirtioNetHeader.Length : 0;
        var scratch = new byte[header + Math.Max(MaxTapFrameLength, Options.MaxFrameLength)];
        int maxFrame = Math.Min(Options.MaxFrameLength, Pool.BufferSize);
        while (!ct.IsCancellationRequested)
        {
            if (!_tap.WaitReadable(PollMilliseconds)) continue;
            // Drain what the kernel has queued before polling again: a burst costs one poll, not one per frame, and what
            // it queues on other links is written at its end (FrameLink.Burst).
            int read;
            using var burst = Burst();
            while ((read = _tap.Read(scratch)) > 0)
            {
                if (header > 0 && VirtioNetHeader.AcceptRead(scratch.AsSpan(0, read)) is var bad and not DropReason.None)
                {
                    Stats.Drops.Increment(bad);
                    continue;
                }
                int n = read - header;
                if (n > maxFrame)
                {
                    Stats.Drops.Increment(DropReason.FrameLengthTooLarge);
                    continue;
                }
                var frame = Pool.TryRent(n);
                if (frame is null)
                {
                    Stats.Drops.Increment(DropReason.FramePoolExhausted);
                    continue;
                }
                scratch.AsSpan(header, n).CopyTo(frame.Array);
                frame.SetLength(n);
                Stats.CountIn(n);
                sink.Deliver(frame);
                if (ct.IsCancellationRequested) return;
            }
        }
    }

    protected override bool SupportsInlineWrites => true;

    protected override bool HasPendingWrite => _stalled.Count > 0 || _run is { Segments: > 0 };

    // Tap writes are system calls that do not wait (the tap is non-blocking); the writer loop's pass may wait for room.
    protected override Task WriteQueuedAsync(CancellationToken ct)
    {
        Drain(mayWait: true);
        return Task.CompletedTask;
    }

    protected override bool TryWriteInline() => Drain(mayWait: false);

    /// <summary>
    /// Writes the stalled writes, then the queue, then the joined run. Without <paramref name="mayWait"/>, a write the
    /// tap refuses (its queue is full) is kept, with everything after it, for the writer loop: false.
    /// </summary>
    private bool Drain(bool mayWait)
    {
        while (_stalled.Count > 0)
        {
            var (bytes, frames, frameBytes) = _stalled.Peek();
            if (!WriteToTap(bytes, [], frames, frameBytes, mayWait)) return false;
            _stalled.Dequeue();
        }
        while (TryDequeue(out var frame))
        {
            try
            {
                if (_run is null)
                {
                    Emit(frame.Span, [], 1, frame.Length, mayWait);
                }
                else
                {
                    var result = _run.Offer(frame.Span);
                    if (result == CoalesceResult.RunEnded)
                    {
                        EmitRun(mayWait);
                        result = _run.Offer(frame.Span);
                    }
                    if (result == CoalesceResult.Ineligible)
                    {
                        EmitRun(mayWait);
                        Emit(_plainHeader, frame.Span, 1, frame.Length, mayWait);
                    }
                }
            }
            finally
            {
                frame.Release();
            }
            if (_stalled.Count > 0) return false;
        }
        // The queue is empty: whatever was joined goes now (joining never delays a frame).
        EmitRun(mayWait);
        return _stalled.Count == 0;
    }

    private void EmitRun(bool mayWait)
    {
        if (_run is not { Segments: > 0 } run) return;
        int segments = run.Segments, frameBytes = run.FrameBytes;
        Emit(run.Complete(), [], segments, frameBytes, mayWait);
    }

    /// <summary>Writes one tap frame (given in two pieces), or, behind a stalled write, keeps a copy in order.</summary>
    private void Emit(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, int frames, int frameBytes, bool mayWait)
    {
        if (_stalled.Count == 0 && WriteToTap(first, second, frames, frameBytes, mayWait)) return;
        var copy = new byte[first.Length + second.Length]; // only when the guest's queue is full
        first.CopyTo(copy);
        second.CopyTo(copy.AsSpan(first.Length));
        _stalled.Enqueue((copy, frames, frameBytes));
    }

    /// <summary>
    /// One write of <paramref name="first"/> then <paramref name="second"/> (gathered, nothing copied), carrying
    /// <paramref name="frames"/> frames of <paramref name="frameBytes"/> bytes. When the kernel's queue is full:
    /// without <paramref name="mayWait"/> false (nothing written); otherwise it waits up to the poll interval and,
    /// still full, counts them as EgressQueueFull drops.
    /// </summary>
    private bool WriteToTap(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, int frames, int frameBytes, bool mayWait)
    {
        if (_tap.Write(first, second) || (mayWait && _tap.WaitWritable(PollMilliseconds) && _tap.Write(first, second)))
            Stats.CountOut(frames, frameBytes);
        else if (mayWait)
            Stats.Drops.Increment(DropReason.EgressQueueFull, frames);
        else
            return false;
        return true;
    }

    protected override void CloseTransport() => _tap.Dispose();
}
