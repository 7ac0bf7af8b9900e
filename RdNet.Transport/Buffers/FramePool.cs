using System.Collections.Concurrent;

namespace RdNet.Transport.Buffers;

/// <summary>
/// A bounded pool of <see cref="FrameBuffer"/>s. Buffers are created lazily up to <see cref="Capacity"/>;
/// when all are in flight <see cref="TryRent"/> returns null and the caller counts a drop
/// (FramePoolExhausted) — the pool is the switch's memory bound and its back-pressure.
/// </summary>
public sealed class FramePool
{
    private readonly ConcurrentStack<FrameBuffer> _free = new();
    private int _created;
    private int _outstanding;

    public FramePool(int capacity, int bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 64);
        Capacity = capacity;
        BufferSize = bufferSize;
    }

    public int Capacity { get; }

    public int BufferSize { get; }

    /// <summary>Buffers rented and not yet returned. Tests assert this comes back to zero.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    public int Created => Volatile.Read(ref _created);

    public FrameBuffer? TryRent()
    {
        if (!_free.TryPop(out var buffer))
        {
            if (Interlocked.Increment(ref _created) > Capacity)
            {
                Interlocked.Decrement(ref _created);
                // A buffer may have come back between the pop and the count.
                if (!_free.TryPop(out buffer)) return null;
            }
            else
            {
                buffer = new FrameBuffer(this, BufferSize);
            }
        }
        buffer.OnRent();
        Interlocked.Increment(ref _outstanding);
        return buffer;
    }

    internal void Return(FrameBuffer buffer)
    {
        Interlocked.Decrement(ref _outstanding);
        _free.Push(buffer);
    }
}
