using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Switching;

namespace RdNet.Actors.Switch;

/// <summary>
/// The switching decision of one <see cref="RouterActor"/>, callable from the thread a frame arrives on. A frame from
/// a link's reader (or from a gateway service) is switched right there and written into the egress link's bounded
/// send queue, instead of waiting for the router actor to be scheduled: on the data path that actor hop cost a
/// thread wake-up per frame, which dominated latency. The <see cref="SwitchCore"/> and the port table are guarded by
/// one lock held only for the CAM lookup; the router actor still owns the ports' lifetimes (attach, detach, ageing,
/// stats) and changes the table under the same lock. Frames for an in-process port (the gateway) are still messages.
/// </summary>
public sealed class SwitchFabric(SwitchCore core, RouterOptions options, PacketTrace trace, Func<long> clock, ILoggingAdapter log)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Port> _ports = [];
    private Port[] _all = [];
    private bool _closed;

    public sealed record Port(int Id, IActorRef Ref, FrameLink? Link, IInlineReceiver? Inline = null);

    /// <summary>Runs <paramref name="action"/> on the core with the fabric locked (router housekeeping).</summary>
    public T WithCore<T>(Func<SwitchCore, T> action)
    {
        lock (_lock) return action(core);
    }

    public void Add(Port port)
    {
        lock (_lock)
        {
            _ports[port.Id] = port;
            _all = [.. _ports.Values];
        }
    }

    /// <summary>Removes port <paramref name="id"/> and, under the same lock, runs <paramref name="cleanup"/> on the core (its CAM entries).</summary>
    public T Remove<T>(int id, Func<SwitchCore, T> cleanup)
    {
        lock (_lock)
        {
            _ports.Remove(id);
            _all = [.. _ports.Values];
            return cleanup(core);
        }
    }

    /// <summary>The router stopped: no more switching, and the capture (written under this lock) is closed.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            _ports.Clear();
            _all = [];
            options.Pcap?.Dispose();
        }
    }

    public void FlushCapture()
    {
        lock (_lock)
        {
            if (!_closed) options.Pcap?.Flush();
        }
    }

    public void Switch(FrameBuffer frame)
    {
        Port? target = null;
        Port[]? flood = null;
        lock (_lock)
        {
            if (_closed)
            {
                frame.Release();
                return;
            }
            if (!_ports.ContainsKey(frame.Ingress))
            {
                // From a port that is being detached (its reader had the frame before the link closed): learning its
                // source would point the CAM at a port that no longer exists.
                core.Drops.Increment(DropReason.IngressPortDetached);
                frame.Release();
                return;
            }
            var decision = core.Decide(frame.Span, frame.Ingress, clock());
            if (trace.Enabled) // one volatile read when off; toggled by SIGUSR1
                log.Info("switch port {Port}: {Frame} -> {Decision}", frame.Ingress, FrameSummary.Describe(frame.Span),
                    decision.Action == SwitchAction.Drop ? $"drop ({decision.Reason})" : decision.Action == SwitchAction.Flood ? "flood" : $"port {decision.Port}");
            switch (decision.Action)
            {
                case SwitchAction.Forward when _ports.TryGetValue(decision.Port, out var port):
                    options.Pcap?.Write(frame.Span, DateTimeOffset.UtcNow);
                    target = port;
                    break;
                case SwitchAction.Flood:
                    options.Pcap?.Write(frame.Span, DateTimeOffset.UtcNow);
                    flood = _all;
                    break;
                case SwitchAction.Forward:
                    core.Drops.Increment(DropReason.UnknownUnicast);
                    break;
            }
        }
        if (target is not null)
        {
            Deliver(target, frame);
            return;
        }
        if (flood is not null)
        {
            foreach (var p in flood)
            {
                if (p.Id == frame.Ingress) continue;
                frame.Retain();
                Deliver(p, frame);
            }
        }
        frame.Release();
    }

    // A link's send queue is a bounded multi-writer channel: full or closed counts the drop and releases the frame.
    private static void Deliver(Port port, FrameBuffer frame)
    {
        if (port.Link is { } link) link.TrySend(frame);
        else if (port.Inline is null || !port.Inline.TryTake(frame)) port.Ref.Tell(frame, ActorRefs.NoSender);
    }
}
