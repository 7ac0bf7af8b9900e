namespace RdNet.Transport.Diagnostics;

/// <summary>
/// When a bound is hit (flow table full, query limit) the operator should read it in the log, but a flood must not
/// become a log line per packet: the first hit is logged, then at most one line per interval carrying how many hits
/// were not logged. Time is an argument (milliseconds of a monotonic clock).
/// </summary>
public sealed class LimitNotice(TimeSpan interval)
{
    private long _lastLogged = long.MinValue;
    private long _unlogged;

    /// <summary>True when this hit should be logged; <paramref name="unlogged"/> is how many hits since the last logged one were not.</summary>
    public bool Hit(long nowMs, out long unlogged)
    {
        if (_lastLogged != long.MinValue && nowMs - _lastLogged < (long)interval.TotalMilliseconds)
        {
            _unlogged++;
            unlogged = 0;
            return false;
        }
        unlogged = _unlogged;
        _unlogged = 0;
        _lastLogged = nowMs;
        return true;
    }
}
