namespace RdNet.Transport.Diagnostics;

/// <summary>
/// The last <see cref="Capacity"/> latency samples (milliseconds), for percentiles in the stats: a fixed ring, so memory
/// stays bounded however many queries pass. Not thread-safe: one actor owns it.
/// </summary>
public sealed class LatencyWindow
{
    private readonly double[] _samples;
    private int _next;

    public LatencyWindow(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _samples = new double[capacity];
    }

    public int Capacity => _samples.Length;

    /// <summary>Samples held (at most <see cref="Capacity"/>).</summary>
    public int Count { get; private set; }

    /// <summary>Samples ever added.</summary>
    public long Total { get; private set; }

    public void Add(double milliseconds)
    {
        _samples[_next] = milliseconds;
        _next = (_next + 1) % _samples.Length;
        if (Count < _samples.Length) Count++;
        Total++;
    }

    /// <summary>Nearest-rank percentiles (0 &lt; p ≤ 100) of the held samples; null when there are none.</summary>
    public IReadOnlyList<double>? Percentiles(params double[] ps)
    {
        if (Count == 0) return null;
        var sorted = _samples.AsSpan(0, Count).ToArray();
        Array.Sort(sorted);
        return ps.Select(p =>
        {
            if (p is <= 0 or > 100) throw new ArgumentOutOfRangeException(nameof(ps), p, "a percentile is in (0, 100]");
            var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
            return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
        }).ToList();
    }
}
