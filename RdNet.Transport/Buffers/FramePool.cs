namespace RdNet.Transport.Buffers;

/// <summary>
/// A bounded pool of <see cref="FrameBuffer"/>s in a few size classes, so that a switch configured for 64 KiB frames
/// (MTU 65520) still carries its MTU 1500 traffic in 2 KiB buffers: a frame rents the smallest class that holds it.
/// Buffers are created lazily; the bounds are the number of buffers (<see cref="Capacity"/>) and the bytes they hold
/// together (<see cref="MaxBytes"/>). The bounds are shared by all classes: when a class has nothing free and a new
/// buffer would pass a bound, free buffers of the other classes are dropped (their count and bytes go back to the
/// budget) until it fits, so a rent succeeds whenever the buffers in use leave room for it, whatever burst (of 64 KiB
/// frames or of small ones) filled the free lists before. Only when the buffers in use themselves fill a bound does
/// <see cref="TryRent(int)"/> return null and the caller count a drop (FramePoolExhausted) — the pool is the switch's
/// memory bound and its back-pressure.
/// </summary>
public sealed class FramePool
{
    /// <summary>Class sizes below the largest frame: an MTU 1500 frame (1514 bytes), a 9000-byte jumbo frame, and 16 KiB.</summary>
    private static readonly int[] StandardClasses = [2048, 9216, 16384];

    private readonly SizeClass[] _classes;
    private int _created;
    private long _createdBytes;
    private int _outstanding;
    private long _reclaimed;

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

    /// <summary>Free buffers dropped so that a buffer of another class could be created within the bounds.</summary>
    public long Reclaimed => Interlocked.Read(ref _reclaimed);

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
        // A bound is reached. The budget is shared by all classes, so free buffers of the other classes give their
        // count and bytes back (largest first, so the fewest go) until a buffer of this class fits; a buffer of this
        // class that came back meanwhile is taken as it is. Lending a larger free buffer instead would keep 64 KiB
        // per 60-byte frame after an MTU 65520 burst and cap small traffic at the number of large buffers.
        while (TryDropFree())
        {
            if (cls.TryPop(out buffer)) return buffer;
            if (TryReserve(cls.Size)) return new FrameBuffer(this, cls.Size);
        }
        return cls.TryPop(out buffer) ? buffer : null;
    }

    private bool TryDropFree()
    {
        for (int i = _classes.Length - 1; i >= 0; i--)
        {
            if (!_classes[i].TryPop(out var dropped)) continue;
            Interlocked.Add(ref _createdBytes, -dropped.Capacity);
            Interlocked.Decrement(ref _created);
            Interlocked.Increment(ref _reclaimed);
            return true;
        }
        return false;
    }

    // Compare-and-swap rather than add-then-undo, so that Created and CreatedBytes never read above their bounds.
    private bool TryReserve(int size)
    {
        int created = Volatile.Read(ref _created);
        do
        {
            if (created >= Capacity) return false;
        }
        while (created != (created = Interlocked.CompareExchange(ref _created, created + 1, created)));
        long bytes = Interlocked.Read(ref _createdBytes);
        do
        {
            if (bytes + size > MaxBytes)
            {
                Interlocked.Decrement(ref _created);
                return false;
            }
        }
        while (bytes != (bytes = Interlocked.CompareExchange(ref _createdBytes, bytes + size, bytes)));
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
