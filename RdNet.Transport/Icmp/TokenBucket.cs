namespace RdNet.Transport.Icmp;

/// <summary>
/// A token bucket with time as an argument: <see cref="Rate"/> tokens per second refill up to <see cref="Burst"/>.
/// Used to rate-limit ICMP (RFC 1812 §4.3.2.8 asks for it; a guest flood must not become a host flood).
/// </summary>
public sealed class TokenBucket
{
    private double _tokens;
    private DateTimeOffset _last;

    public TokenBucket(double rate, int burst, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        Rate = rate;
        Burst = burst;
        _tokens = burst;
        _last = now;
    }

    public double Rate { get; }

    public int Burst { get; }

    public bool TryTake(DateTimeOffset now)
    {
        if (now > _last)
        {
            _tokens = Math.Min(Burst, _tokens + (now - _last).TotalSeconds * Rate);
            _last = now;
        }
        if (_tokens < 1) return false;
        _tokens -= 1;
        return true;
    }
}
