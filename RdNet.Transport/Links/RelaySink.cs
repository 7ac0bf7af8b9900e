using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Links;

/// <summary>
/// Hands every frame a link receives to another link's send queue: one direction of a two-link relay (network-setup
/// between vm-switch and the host data link). The target can be swapped while frames flow (a new data link after a
/// re-handshake); with no target, frames are dropped and counted (<see cref="DropReason.RelayPeerDown"/>).
/// </summary>
public sealed class RelaySink : IFrameSink
{
    private FrameLink? _target;

    public DropCounters Drops { get; } = new();

    public FrameLink? Target
    {
        get => Volatile.Read(ref _target);
        set => Volatile.Write(ref _target, value);
    }

    public void Deliver(FrameBuffer frame)
    {
        if (Target is { } t)
        {
            t.TrySend(frame);
            return;
        }
        Drops.Increment(DropReason.RelayPeerDown);
        frame.Release();
    }
}
