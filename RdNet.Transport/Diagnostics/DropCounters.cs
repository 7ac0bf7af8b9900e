namespace RdNet.Transport.Diagnostics;

/// <summary>
/// Lock-free counters, one per <see cref="DropReason"/>. Safe to increment from reader threads and actors alike;
/// reading gives a snapshot with only the non-zero reasons.
/// </summary>
public sealed class DropCounters
{
    private static readonly int Size = Enum.GetValues<DropReason>().Max(r => (int)r) + 1;
    private readonly long[] _counts = new long[Size];

    public void Increment(DropReason reason) => Interlocked.Increment(ref _counts[(int)reason]);

    public void Increment(DropReason reason, int count) => Interlocked.Add(ref _counts[(int)reason], count);

    public long this[DropReason reason] => Interlocked.Read(ref _counts[(int)reason]);

    public long Total
    {
        get
        {
            long t = 0;
            for (int i = 1; i < _counts.Length; i++) t += Interlocked.Read(ref _counts[i]);
            return t;
        }
    }

    public IReadOnlyDictionary<DropReason, long> Snapshot()
    {
        var d = new Dictionary<DropReason, long>();
        for (int i = 1; i < _counts.Length; i++)
        {
            var v = Interlocked.Read(ref _counts[i]);
            if (v != 0) d[(DropReason)i] = v;
        }
        return d;
    }
}
