using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Linux;

namespace RdNet.Transport.Links;

/// <summary>
/// A link to a TAP device (IFF_TAP|IFF_NO_PI): one read or write system call per frame, which is how the
/// kernel's tun driver works. The reader runs on a dedicated thread (poll + read, no thread-pool blocking).
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
        var scratch = new byte[Math.Max(MaxTapFrameLength, Options.MaxFrameLength)];
        int maxFrame = Math.Min(Options.MaxFrameLength, Pool.BufferSize);
        while (!ct.IsCancellationRequested)
        {
            if (!_tap.WaitReadable(PollMilliseconds)) continue;
            // Drain what the kernel has queued before polling again: a burst costs one poll, not one per frame.
            int n;
            while ((n = _tap.Read(scratch)) > 0)
            {
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
                scratch.AsSpan(0, n).CopyTo(frame.Array);
                frame.SetLength(n);
                Stats.CountIn(n);
                sink.Deliver(frame);
                if (ct.IsCancellationRequested) return;
            }
        }
    }

    protected override async Task WriteLoopAsync(CancellationToken ct)
    {
        var queue = SendQueue;
        while (await queue.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (queue.TryRead(out var frame))
            {
                try
                {
                    if (_tap.Write(frame.Span) || (_tap.WaitWritable(PollMilliseconds) && _tap.Write(frame.Span)))
                        Stats.CountOut(1, frame.Length);
                    else
                        Stats.Drops.Increment(DropReason.EgressQueueFull);
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
