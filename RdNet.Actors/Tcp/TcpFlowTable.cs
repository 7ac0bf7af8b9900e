using System.Collections.Concurrent;
using Akka.Actor;

namespace RdNet.Actors.Tcp;

/// <summary>
/// The TCP NAT's flows by 4-tuple (a hash table, never scanned). Only <see cref="TcpNatActor"/> changes it; any thread
/// may look a flow up — the gateway's fast path does, on the link reader that switched the segment, so a segment of
/// a known connection goes straight to its flow actor (<see cref="Gateway.GatewayFastPath"/>).
/// </summary>
public sealed class TcpFlowTable
{
    private readonly ConcurrentDictionary<FlowKey, IActorRef> _flows = new();
    private int _count;

    /// <summary>Flows in the table (kept by the single writer; ConcurrentDictionary.Count would take every lock).</summary>
    public int Count => Volatile.Read(ref _count);

    public bool TryGet(FlowKey key, out IActorRef flow) => _flows.TryGetValue(key, out flow!);

    public bool ContainsKey(FlowKey key) => _flows.ContainsKey(key);

    /// <summary>Sets the flow of <paramref name="key"/> (a new one, or the next incarnation of the same 4-tuple).</summary>
    internal void Set(FlowKey key, IActorRef flow)
    {
        bool added = true;
        _flows.AddOrUpdate(key, flow, (_, _) =>
        {
            added = false;
            return flow;
        });
        if (added) Interlocked.Increment(ref _count);
    }

    /// <summary>Removes <paramref name="key"/> only while it still maps to <paramref name="flow"/>.</summary>
    internal bool Remove(FlowKey key, IActorRef flow)
    {
        if (!_flows.TryRemove(new KeyValuePair<FlowKey, IActorRef>(key, flow))) return false;
        Interlocked.Decrement(ref _count);
        return true;
    }

    internal void Clear()
    {
        _flows.Clear();
        Volatile.Write(ref _count, 0);
    }
}
