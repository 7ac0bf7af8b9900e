namespace RdNet.Transport.Tcp;

/// <summary>
/// A fixed-capacity byte ring: the TCP send buffer (bytes from SND.UNA on) and the receive buffer (bytes the
/// application has not read, followed by room for out-of-order data at its offset). Nothing here allocates after
/// construction; the application side works on contiguous spans so a socket can read into / write from the ring.
/// </summary>
public sealed class ByteRing
{
    private readonly int _capacity;
    private byte[] _buffer = [];
    private int _head;
    private bool _released;

    /// <summary>
    /// The storage is rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/> when first needed and goes back
    /// on <see cref="Release"/>, or earlier through <see cref="ReleaseIfEmpty"/>: an idle connection holds no buffer.
    /// </summary>
    public ByteRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>Whether storage is currently rented.</summary>
    public bool HasStorage => _buffer.Length > 0;

    private byte[] Storage
    {
        get
        {
            if (_buffer.Length == 0)
            {
                ObjectDisposedException.ThrowIf(_released, this);
                _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(_capacity);
            }
            return _buffer;
        }
    }

    /// <summary>Returns the storage to the pool; the ring is empty and unusable afterwards.</summary>
    public void Release()
    {
        _released = true;
        Count = 0;
        ReturnStorage();
    }

    /// <summary>
    /// Returns the storage while the ring is empty. The caller guarantees nothing lives past <see cref="Count"/>
    /// (no out-of-order data) and no socket operation still uses a span of it.
    /// </summary>
    public void ReleaseIfEmpty()
    {
        if (Count == 0) ReturnStorage();
    }

    private void ReturnStorage()
    {
        var b = _buffer;
        if (b.Length == 0) return;
        _buffer = [];
        _head = 0;
        System.Buffers.ArrayPool<byte>.Shared.Return(b);
    }

    public int Capacity => _capacity;

    /// <summary>Bytes held (committed).</summary>
    public int Count { get; private set; }

    public int Free => _capacity - Count;

    /// <summary>The longest contiguous run of held bytes starting at the head.</summary>
    public Memory<byte> Readable => Count == 0 ? Memory<byte>.Empty : _buffer.AsMemory(_head, Math.Min(Count, _capacity - _head));

    /// <summary>The longest contiguous run of free space just after the held bytes.</summary>
    public Memory<byte> Writable
    {
        get
        {
            int tail = (_head + Count) % _capacity;
            int len = tail >= _head && Count < _capacity ? _capacity - tail : _head - tail;
            if (Count == _capacity) len = 0;
            return Storage.AsMemory(tail, len);
        }
    }

    /// <summary>Marks <paramref name="n"/> bytes written just after the held bytes as held.</summary>
    public void Commit(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, Free);
        Count += n;
    }

    /// <summary>
    /// Drops <paramref name="n"/> bytes from the head. The head never jumps back when the ring empties: bytes held
    /// past <see cref="Count"/> (out-of-order data) and a socket read in progress into <see cref="Writable"/> keep
    /// their place.
    /// </summary>
    public void Consume(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, Count);
        _head = (_head + n) % _capacity;
        Count -= n;
    }

    /// <summary>Appends as much of <paramref name="data"/> as fits; returns the number of bytes taken.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        WriteAt(Count, data[..n]);
        Count += n;
        return n;
    }

    /// <summary>Copies <paramref name="data"/> to <paramref name="offset"/> bytes past the head without changing <see cref="Count"/>.</summary>
    public void WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset + data.Length > _capacity) throw new ArgumentOutOfRangeException(nameof(offset));
        int start = (_head + offset) % _capacity;
        int first = Math.Min(data.Length, _capacity - start);
        if (data.IsEmpty) return;
        var storage = Storage;
        data[..first].CopyTo(storage.AsSpan(start));
        data[first..].CopyTo(storage);
    }

    /// <summary>The bytes at [offset, offset+length) past the head as at most two spans (the ring may wrap).</summary>
    public void Peek(int offset, int length, out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second)
    {
        if (offset < 0 || length < 0 || offset + length > _capacity) throw new ArgumentOutOfRangeException(nameof(offset));
        int start = (_head + offset) % _capacity;
        int a = Math.Min(length, _capacity - start);
        if (length == 0)
        {
            first = default;
            second = default;
            return;
        }
        first = _buffer.AsSpan(start, a);
        second = _buffer.AsSpan(0, length - a);
    }

    /// <summary>Copies held bytes out (tests and small consumers).</summary>
    public int Read(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Count);
        Peek(0, n, out var a, out var b);
        a.CopyTo(destination);
        b.CopyTo(destination[a.Length..]);
        Consume(n);
        return n;
    }
}
