using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Switching;

public enum SwitchAction { Drop, Flood, Forward }

public readonly record struct SwitchDecision(SwitchAction Action, int Port, DropReason Reason)
{
    public static SwitchDecision Dropped(DropReason reason) => new(SwitchAction.Drop, -1, reason);
}

/// <summary>
/// The forwarding decision of the L2 switch, sans-IO (spec §5.1, with RELIABILITY row 16):
/// frames with a group or zero source MAC are dropped; the gateway's MAC is learned on the gateway port only;
/// the source is learned (capped); broadcast and multicast are flooded to every port but the ingress;
/// a known unicast is forwarded; an unknown unicast is dropped (no flooding, as the original) — unless the
/// switch has an uplink (vm-switch's link to host-switch), where it goes instead, as everything beyond this
/// small switch lies that way.
/// </summary>
public sealed class SwitchCore(CamTable cam, DropCounters drops)
{
    private long _forwarded, _flooded;

    public CamTable Cam { get; } = cam;
    public DropCounters Drops { get; } = drops;
    public long Forwarded => _forwarded;
    public long Flooded => _flooded;

    /// <summary>The port that receives unknown unicast, or -1 for none (drop).</summary>
    public int UplinkPort { get; set; } = -1;

    public SwitchDecision Decide(ReadOnlySpan<byte> frame, int ingress, long nowMs)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth, out var reason)) return Drop(reason);
        var src = eth.Source;
        if (src.IsGroup) return Drop(DropReason.SourceMacGroup);
        if (src.IsZero) return Drop(DropReason.SourceMacZero);
        switch (Cam.Learn(src, ingress, nowMs))
        {
            case CamTable.LearnResult.StaticEntry:
                if (!Cam.TryLookup(src, out var owner) || owner != ingress) return Drop(DropReason.SourceMacIsGateway);
                break;
            case CamTable.LearnResult.Full:
                Drops.Increment(DropReason.CamTableFull); // still switched, just not learned
                break;
        }
        var dst = eth.Destination;
        if (dst.IsGroup)
        {
            _flooded++;
            return new SwitchDecision(SwitchAction.Flood, -1, DropReason.None);
        }
        if (!Cam.TryLookup(dst, out var port))
        {
            if (UplinkPort < 0 || UplinkPort == ingress) return Drop(DropReason.UnknownUnicast);
            port = UplinkPort;
        }
        if (port == ingress) return Drop(DropReason.HairpinToIngress);
        _forwarded++;
        return new SwitchDecision(SwitchAction.Forward, port, DropReason.None);
    }

    private SwitchDecision Drop(DropReason reason)
    {
        Drops.Increment(reason);
        return SwitchDecision.Dropped(reason);
    }
}
