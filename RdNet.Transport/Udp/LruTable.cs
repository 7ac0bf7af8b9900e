namespace RdNet.Transport.Udp;

/// <summary>
/// A map with a fixed capacity that remembers the order of use: <see cref="TryGet"/> marks an entry as the most
/// recently used, and <see cref="Add"/> on a full table evicts the least recently used entry and hands it back so
/// the caller can close whatever it owned. Lookups, adds and evictions are O(1). Not thread-safe (one actor owns it).
/// </summary>
public sealed class LruTable<TKey, TValue>
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<KeyValuePair<TKey, TValue>>> _map;
    private readonly LinkedList<KeyValuePair<TKey, TValue>> _order = new(); // first = most recently used

    public LruTable(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _map = new Dictionary<TKey, LinkedListNode<KeyValuePair<TKey, TValue>>>(Math.Min(capacity, 1024));
    }

    public int Capacity { get; }

    public int Count => _map.Count;

    /// <summary>Finds <paramref name="key"/> and makes it the most recently used entry.</summary>
    public bool TryGet(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            if (node != _order.First)
            {
                _order.Remove(node);
                _order.AddFirst(node);
            }
            value = node.Value.Value;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Finds <paramref name="key"/> without changing the order.</summary>
    public bool TryPeek(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            value = node.Value.Value;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>
    /// Adds a new entry as the most recently used. When the table is full, the least recently used entry is removed
    /// first and returned in <paramref name="evicted"/> (the method then returns true).
    /// </summary>
    public bool Add(TKey key, TValue value, out KeyValuePair<TKey, TValue> evicted)
    {
        if (_map.ContainsKey(key)) throw new ArgumentException($"{key} is already in the table", nameof(key));
        evicted = default;
        var evictedAny = false;
        if (_map.Count >= Capacity)
        {
            var last = _order.Last!;
            _order.RemoveLast();
            _map.Remove(last.Value.Key);
            evicted = last.Value;
            evictedAny = true;
        }
        _map[key] = _order.AddFirst(new KeyValuePair<TKey, TValue>(key, value));
        return evictedAny;
    }

    public bool Remove(TKey key)
    {
        if (!_map.Remove(key, out var node)) return false;
        _order.Remove(node);
        return true;
    }

    /// <summary>Entries from the most to the least recently used.</summary>
    public IEnumerable<KeyValuePair<TKey, TValue>> InUseOrder => _order;
}
