namespace RdNet.Transport.Tcp;

/// <summary>
/// A bounded, sorted set of disjoint half-open sequence ranges [Left, Right): the receiver's out-of-order map and
/// the sender's SACK scoreboard. Adjacent or overlapping ranges are merged. When the set is full a range that would
/// need a new slot is refused (the caller counts the drop), which bounds the work any peer can cause.
/// </summary>
public sealed class SeqRanges
{
    private readonly SeqNum[] _left;
    private readonly SeqNum[] _right;

    public SeqRanges(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _left = new SeqNum[capacity];
        _right = new SeqNum[capacity];
    }

    public int Count { get; private set; }
    public int Capacity => _left.Length;
    public SeqNum Left(int i) => _left[i];
    public SeqNum Right(int i) => _right[i];

    /// <summary>Highest right edge, or <paramref name="otherwise"/> when empty.</summary>
    public SeqNum HighestRight(SeqNum otherwise) => Count == 0 ? otherwise : _right[Count - 1];

    public void Clear() => Count = 0;

    /// <summary>Adds [left, right); returns false (set unchanged) if it needs a slot and none is free.</summary>
    public bool Add(SeqNum left, SeqNum right)
    {
        if (right <= left) return true;
        // First range whose right edge reaches left (merge candidates start there).
        int i = 0;
        while (i < Count && _right[i] < left) i++;
        int j = i;
        while (j < Count && _left[j] <= right) j++;
        // Ranges i..j-1 overlap or touch [left, right).
        if (j == i)
        {
            if (Count == _left.Length) return false;
            Array.Copy(_left, i, _left, i + 1, Count - i);
            Array.Copy(_right, i, _right, i + 1, Count - i);
            _left[i] = left;
            _right[i] = right;
            Count++;
            return true;
        }
        var l = SeqNum.Min(left, _left[i]);
        var r = SeqNum.Max(right, _right[j - 1]);
        _left[i] = l;
        _right[i] = r;
        int removed = j - i - 1;
        if (removed > 0)
        {
            Array.Copy(_left, j, _left, i + 1, Count - j);
            Array.Copy(_right, j, _right, i + 1, Count - j);
            Count -= removed;
        }
        return true;
    }

    /// <summary>Forgets everything below <paramref name="edge"/> (cumulatively acknowledged or delivered).</summary>
    public void TrimBelow(SeqNum edge)
    {
        int k = 0;
        while (k < Count && _right[k] <= edge) k++;
        if (k > 0)
        {
            Array.Copy(_left, k, _left, 0, Count - k);
            Array.Copy(_right, k, _right, 0, Count - k);
            Count -= k;
        }
        if (Count > 0 && _left[0] < edge) _left[0] = edge;
    }

    /// <summary>The index of the range containing <paramref name="s"/>, or -1.</summary>
    public int IndexOf(SeqNum s)
    {
        for (int i = 0; i < Count; i++)
        {
            if (s < _left[i]) return -1;
            if (s < _right[i]) return i;
        }
        return -1;
    }

    /// <summary>Total bytes covered.</summary>
    public long Bytes
    {
        get
        {
            long b = 0;
            for (int i = 0; i < Count; i++) b += _right[i] - _left[i];
            return b;
        }
    }
}
