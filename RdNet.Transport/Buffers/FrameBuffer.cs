namespace RdNet.Transport.Buffers;

/// <summary>
/// One pooled Ethernet frame. The same object travels reader → router → port → writer and goes back to its pool,
/// so switching a frame allocates nothing. Ownership is a reference count: whoever holds a reference calls
/// <see cref="Release"/> exactly once; a broadcast <see cref="Retain"/>s once per extra recipient.
/// </summary>
public sealed class FrameBuffer
{
    private readonly FramePool _pool;
    private int _refs;

    internal FrameBuffer(FramePool pool, int capacity)
    {
        _pool = pool;
        Array = new byte[capacity];
    }

    /// <summary>Backing store; only the first <see cref="Length"/> bytes are the frame.</summary>
    public byte[] Array { get; }

    public int Length { get; private set; }

    /// <summary>The switch port the frame arrived on (set by the port's sink before it reaches the router).</summary>
    public int Ingress { get; set; }

    public int Capacity => Array.Length;

    public Span<byte> Span => Array.AsSpan(0, Length);

    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    public void SetLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Array.Length);
        Length = length;
    }

    internal void OnRent()
    {
        Length = 0;
        Ingress = 0;
        Volatile.Write(ref _refs, 1);
    }

    public void Retain()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
            throw new InvalidOperationException("FrameBuffer retained after it was returned to its pool");
    }

    public void Release()
    {
        var left = Interlocked.Decrement(ref _refs);
        if (left == 0) _pool.Return(this);
        else if (left < 0) throw new InvalidOperationException("FrameBuffer released more times than it was held");
    }
}
