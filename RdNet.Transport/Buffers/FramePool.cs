namespace RdNet.Transport.Buffers;

/// <summary>
/// A bounded pool of <see cref="FrameBuffer"/>s in a few size classes, so that a switch configured for 64 KiB frames
/// (MTU 65520) still carries its MTU 1500 traffic in 2 KiB buffers: a frame rents the smallest class that holds it.
/// Buffers are created lazily; the bounds are the number of buffers (<see cref="Capacity"/>) and the bytes they hold
/// together (<see cref="MaxBytes"/>). When a class has nothing free and a new buffer would pass a bound, a free
/// buffer of a larger class is lent instead; when there is none <see cref="TryRent(int)"/> returns null and the caller
/// counts a drop (FramePoolExhausted) — the pool is the switch's memory bound and its back-pressure.
/// </summary>
public sealed class FramePool
{
    /// <summary>Class sizes below the largest frame: an MTU 1500 frame (1514 bytes), a 9000-byte jumbo frame, and 16 KiB.</summary>
    private static readonly int[] StandardClasses = [2048, 9216, 16384];

    private readonly SizeClass[] _classes;
    private int _created;
    private long _createdBytes;
    private int _outstanding;

    public FramePool(int capacity, int bufferSize) : this(capacity, bufferSize, long.MaxValue)
    {
    }

    /// <param name="capacity">Most buffers that exist at once, all classes together.</param>
    /// <param name="bufferSize">The largest frame the pool must hold (the largest class).</param>
    /// <param name="maxBytes">Most bytes all buffers hold together.</param>
    public FramePool(int capacity, int bufferSize, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, bufferSize);
        Capacity = capacity;
        BufferSize = bufferSize;
        MaxBytes = maxBytes;
        _classes = [.. StandardClasses.Where(s => s < bufferSize).Append(bufferSize).Select(s => new SizeClass(s))];
    }

    public int Capacity { get; }

    /// <summary>The largest buffer, i.e. the largest frame this pool can hold.</summary>
    public int BufferSize { get; }

    public long MaxBytes { get; }

    /// <summary>The buffer sizes, smallest first.</summary>
    public IReadOnlyList<int> ClassSizes => [.. _classes.Select(c => c.Size)];

    /// <summary>Buffers rented and not yet returned. Tests assert this comes back to zero.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    public int Created => Volatile.Read(ref _created);

    public long CreatedBytes => Interlocked.Read(ref _createdBytes);

    /// <summary>Rents a buffer of the largest class.</summary>
    public FrameBuffer? TryRent() => TryRent(BufferSize);

    /// <summary>Rents the smallest buffer that holds <paramref name="length"/> bytes; null when the pool is exhausted.</summary>
    public FrameBuffer? TryRent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, BufferSize);
        int first = 0;
        while (_classes[first].Size < length) first++;
        var buffer = TryTake(first);
        if (buffer is null) return null;
        buffer.OnRent();
        Interlocked.Increment(ref _outstanding);
        return buffer;
    }

    private FrameBuffer? TryTake(int classIndex)
    {
        var cls = _classes[classIndex];
        if (cls.TryPop(out var buffer)) return buffer;
        if (TryReserve(cls.Size)) return new FrameBuffer(this, cls.Size);
        // The bounds are reached: lend a free buffer of a larger class, or take one of this class that came back
        // between the pop and the reservation.
        for (int i = classIndex; i < _classes.Length; i++)
            if (_classes[i].TryPop(out buffer)) return buffer;
        return null;
    }

    private bool TryReserve(int size)
    {
        if (Interlocked.Increment(ref _created) > Capacity)
        {
            Interlocked.Decrement(ref _created);
            return false;
        }
        if (Interlocked.Add(ref _createdBytes, size) > MaxBytes)
        {
            Interlocked.Add(ref _createdBytes, -size);
            Interlocked.Decrement(ref _created);
            return false;
        }
        return true;
    }

    internal void Return(FrameBuffer buffer)
    {
        Interlocked.Decrement(ref _outstanding);
        foreach (var cls in _classes)
        {
            if (cls.Size != buffer.Capacity) continue;
            cls.Push(buffer);
            return;
        }
    }

    // A locked array stack rather than ConcurrentStack: that one allocates a node on every push, i.e. per frame.
    private sealed class SizeClass(int size)
    {
        private readonly Lock _lock = new();
        private readonly Stack<FrameBuffer> _free = new();

        public int Size { get; } = size;

        public bool TryPop([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FrameBuffer? buffer)
        {
            lock (_lock) return _free.TryPop(out buffer);
        }

        public void Push(FrameBuffer buffer)
        {
            lock (_lock) _free.Push(buffer);
        }
    }
}
