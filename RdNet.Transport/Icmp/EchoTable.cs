using RdNet.Transport.Wire;

namespace RdNet.Transport.Icmp;

/// <summary>An echo request the guest sent and the host forwarded, kept until its reply or timeout.</summary>
/// <param name="GuestMac">Where the reply goes on the virtual link.</param>
/// <param name="Guest">The guest's address (the request's source).</param>
/// <param name="Destination">The destination as the guest addressed it (.254 stays .254): the reply's source.</param>
/// <param name="HostDestination">Where the host really sent it (after NAT); a reply must come from here.</param>
/// <param name="Identifier">The guest's identifier.</param>
/// <param name="Sequence">The guest's sequence number.</param>
/// <param name="Data">The request's data: the reply to the guest carries exactly these bytes.</param>
public sealed record PendingEcho(MacAddress GuestMac, Ipv4Address Guest, Ipv4Address Destination, Ipv4Address HostDestination,
    ushort Identifier, ushort Sequence, byte[] Data);

/// <summary>
/// The echo requests in flight through one host ICMP socket, sans-IO. The kernel owns the identifier of an
/// unprivileged ICMP socket (it rewrites it to the socket's "port"), so requests are told apart by a sequence
/// number this table hands out; a reply is matched by that number and by the address it came from. Bounded in
/// count; entries older than the timeout are dropped by <see cref="Expire"/>.
/// </summary>
public sealed class EchoTable
{
    private readonly Dictionary<ushort, (PendingEcho Echo, DateTimeOffset Deadline)> _pending = [];
    private readonly Queue<(ushort Sequence, DateTimeOffset Deadline)> _deadlines = new();
    private ushort _next;

    public EchoTable(int capacity, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        Capacity = capacity;
        Timeout = timeout;
    }

    public int Capacity { get; }

    public TimeSpan Timeout { get; }

    public int Count => _pending.Count;

    /// <summary>Records <paramref name="echo"/> and gives the sequence number to send it with; false when full.</summary>
    public bool TryAdd(PendingEcho echo, DateTimeOffset now, out ushort sequence)
    {
        sequence = 0;
        if (_pending.Count >= Capacity) return false;
        // Capacity < 65536, so a free number is always found.
        while (_pending.ContainsKey(_next)) _next++;
        sequence = _next++;
        var deadline = now + Timeout;
        _pending[sequence] = (echo, deadline);
        _deadlines.Enqueue((sequence, deadline));
        return true;
    }

    /// <summary>The request a reply with <paramref name="sequence"/> from <paramref name="from"/> answers, removed from the table.</summary>
    public bool TryComplete(ushort sequence, Ipv4Address from, out PendingEcho echo)
    {
        if (_pending.TryGetValue(sequence, out var e) && e.Echo.HostDestination == from)
        {
            _pending.Remove(sequence);
            echo = e.Echo;
            return true;
        }
        echo = null!;
        return false;
    }

    /// <summary>Forgets requests whose deadline has passed; returns how many.</summary>
    public int Expire(DateTimeOffset now)
    {
        var n = 0;
        while (_deadlines.TryPeek(out var d) && d.Deadline <= now)
        {
            _deadlines.Dequeue();
            // The number may have been answered (gone) or reused since (a later deadline): only the same entry expires.
            if (_pending.TryGetValue(d.Sequence, out var e) && e.Deadline == d.Deadline)
            {
                _pending.Remove(d.Sequence);
                n++;
            }
        }
        return n;
    }
}
