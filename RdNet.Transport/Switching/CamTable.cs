using RdNet.Transport.Wire;

namespace RdNet.Transport.Switching;

/// <summary>
/// The MAC-learning table (content-addressable memory) of the L2 switch: source MAC → port, with a size cap and
/// ageing. Static entries (the gateway) are never aged, overwritten or evicted. Time is passed in (milliseconds
/// of any monotonic clock), so tests drive ageing explicitly.
/// </summary>
public sealed class CamTable
{
    private readonly Dictionary<MacAddress, Entry> _entries;
    private readonly long _ageingMs;

    private struct Entry
    {
        public int Port;
        public long LastSeen;
        public bool Static;
    }

    public CamTable(int capacity, TimeSpan ageing)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _ageingMs = (long)ageing.TotalMilliseconds;
        _entries = new Dictionary<MacAddress, Entry>(Math.Min(capacity, 1024));
    }

    public int Capacity { get; }
    public int Count => _entries.Count;

    public void AddStatic(MacAddress mac, int port) =>
        _entries[mac] = new Entry { Port = port, LastSeen = long.MaxValue, Static = true };

    public bool IsStatic(MacAddress mac) => _entries.TryGetValue(mac, out var e) && e.Static;

    public enum LearnResult { Refreshed, Learned, Moved, Full, StaticEntry }

    public LearnResult Learn(MacAddress mac, int port, long nowMs)
    {
        ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_entries, mac);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry))
        {
            if (entry.Static) return LearnResult.StaticEntry;
            entry.LastSeen = nowMs;
            if (entry.Port == port) return LearnResult.Refreshed;
            entry.Port = port;
            return LearnResult.Moved;
        }
        if (_entries.Count >= Capacity) return LearnResult.Full;
        _entries[mac] = new Entry { Port = port, LastSeen = nowMs };
        return LearnResult.Learned;
    }

    public bool TryLookup(MacAddress mac, out int port)
    {
        if (_entries.TryGetValue(mac, out var e))
        {
            port = e.Port;
            return true;
        }
        port = -1;
        return false;
    }

    /// <summary>Removes every entry (static ones too) that points at <paramref name="port"/>.</summary>
    public int RemovePort(int port) => RemoveWhere((_, e) => e.Port == port);

    /// <summary>Removes learned entries not seen for the ageing time.</summary>
    public int Age(long nowMs) => RemoveWhere((_, e) => !e.Static && nowMs - e.LastSeen >= _ageingMs);

    private int RemoveWhere(Func<MacAddress, Entry, bool> predicate)
    {
        var removed = 0;
        foreach (var (mac, e) in _entries)
        {
            if (!predicate(mac, e)) continue;
            _entries.Remove(mac); // removal while enumerating is allowed for Dictionary since .NET Core 3.0
            removed++;
        }
        return removed;
    }
}
