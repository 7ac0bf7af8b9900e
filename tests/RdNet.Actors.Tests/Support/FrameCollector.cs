using System.Collections.Concurrent;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;

namespace RdNet.Actors.Tests.Support;

/// <summary>Stands for the switch behind a gateway service: copies every frame the service sends and releases it.</summary>
public sealed class FrameCollector : IFrameSink, IDisposable
{
    private readonly BlockingCollection<byte[]> _frames = new();

    public void Deliver(FrameBuffer frame)
    {
        _frames.Add(frame.Span.ToArray());
        frame.Release();
    }

    /// <summary>The next frame matching <paramref name="match"/> within the timeout, skipping others; null if none.</summary>
    public byte[]? Receive(TimeSpan timeout, Func<byte[], bool>? match = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_frames.TryTake(out var f, left)) return null;
            if (match is null || match(f)) return f;
        }
    }

    public void Dispose() => _frames.Dispose();
}
