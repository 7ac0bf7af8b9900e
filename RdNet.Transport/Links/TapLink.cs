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
        var scratch = new byte[Pool.BufferSize];
        while (!ct.IsCancellationRequested)
        {
            if (!_tap.WaitReadable(PollMilliseconds)) continue;
            var frame = Pool.TryRent();
            if (frame is null)
            {
                // Read into scratch so the kernel queue keeps moving, and count the drop.
                if (_tap.Read(scratch) > 0) Stats.Drops.Increment(DropReason.FramePoolExhausted);
                continue;
            }
            int n;
            try { n = _tap.Read(frame.Array); }
            catch { frame.Release(); throw; }
            if (n <= 0)
            {
                frame.Release();
                continue;
            }
            frame.SetLength(n);
            Stats.CountIn(n);
            sink.Deliver(frame);
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
