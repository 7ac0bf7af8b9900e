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
/// </summary>
public sealed class TapLink : FrameLink
{
    private const int PollMilliseconds = 200;

    /// <summary>The largest frame a tap can hand over: its largest MTU (65535) plus an Ethernet header with a VLAN tag.</summary>
    public const int MaxTapFrameLength = ushort.MaxValue + 14 + 4;
    private readonly TapDevice _tap;

    public TapLink(TapDevice tap, FramePool pool, LinkOptions options) : base($"tap:{tap.Name}", pool, options)
    {
        _tap = tap;
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
            // Drain what the kernel has queued before polling again: a burst costs one poll, not one per frame.
            int read;
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

    protected override Task WriteLoopAsync(CancellationToken ct) =>
        _tap.HasVirtioNetHeader ? WriteCoalescedLoopAsync(ct) : WritePlainLoopAsync(ct);

    private async Task WriteCoalescedLoopAsync(CancellationToken ct)
    {
        var queue = SendQueue;
        var run = new TcpSegmentCoalescer();
        var plain = new byte[VirtioNetHeader.Length];
        while (await queue.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (queue.TryRead(out var frame))
            {
                try
                {
                    var result = run.Offer(frame.Span);
                    if (result == CoalesceResult.RunEnded)
                    {
                        WriteRun(run);
                        result = run.Offer(frame.Span);
                    }
                    if (result == CoalesceResult.Ineligible)
                    {
                        WriteRun(run);
                        WriteToTap(plain, frame.Span, 1, frame.Length);
                    }
                }
                finally
                {
                    frame.Release();
                }
            }
            // The queue is empty: whatever was joined goes now (joining never delays a frame).
            WriteRun(run);
        }
    }

    private void WriteRun(TcpSegmentCoalescer run)
    {
        int segments = run.Segments, frameBytes = run.FrameBytes;
        if (segments == 0) return;
        WriteToTap(run.Complete(), [], segments, frameBytes);
    }

    /// <summary>
    /// One write of <paramref name="first"/> then <paramref name="second"/> (gathered, nothing copied), carrying
    /// <paramref name="frames"/> frames of <paramref name="frameBytes"/> bytes; when the kernel's queue stays full past
    /// the poll interval they are counted as EgressQueueFull drops.
    /// </summary>
    private void WriteToTap(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, int frames, int frameBytes)
    {
        if (_tap.Write(first, second) || (_tap.WaitWritable(PollMilliseconds) && _tap.Write(first, second)))
            Stats.CountOut(frames, frameBytes);
        else
            Stats.Drops.Increment(DropReason.EgressQueueFull, frames);
    }

    private async Task WritePlainLoopAsync(CancellationToken ct)
    {
        var queue = SendQueue;
        while (await queue.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (queue.TryRead(out var frame))
            {
                try
                {
                    WriteToTap(frame.Span, [], 1, frame.Length);
                }
                finally
                {
                    frame.Release();
                }
            }
        }
    }

    protected override void CloseTransport() => _tap.Dispose();
}
