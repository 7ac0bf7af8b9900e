using Akka.Actor;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Switch;

/// <summary>Messages of the switch family (router and ports). Frames themselves travel as pooled FrameBuffer objects.</summary>
public static class SwitchProtocol
{
    /// <summary>Attach a link: the router starts a port actor for it. Ownership of the link passes to the router.</summary>
    /// <param name="Uplink">Unknown unicast goes to this port instead of being dropped (vm-switch's link to the host).</param>
    public sealed record AttachLink(FrameLink Link, string Name, bool Uplink = false);

    /// <summary>Attach an in-process port (the gateway) that owns <paramref name="Mac"/>; that MAC is never learned elsewhere.</summary>
    /// <param name="Inline">Frames this port can take on the switching thread (see <see cref="IInlineReceiver"/>); the rest are messages to <paramref name="Port"/>.</param>
    public sealed record AttachLocal(IActorRef Port, MacAddress Mac, string Name, IInlineReceiver? Inline = null);

    /// <summary>Sent to whoever asked for the attachment, and to the router's parent.</summary>
    public sealed record PortAttached(int PortId, string Name, IActorRef Port)
    {
        /// <summary>For an in-process port: the router's fabric, through which its own frames enter the switch.</summary>
        public SwitchFabric? Fabric { get; init; }
    }

    /// <summary>Sent to the router's parent when a port has gone and its CAM entries were removed.</summary>
    public sealed record PortDetached(int PortId, string Name);

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record PortInfo(int PortId, string Name, long FramesIn, long FramesOut, long BytesIn, long BytesOut, IReadOnlyDictionary<DropReason, long> Drops);

    public sealed record RouterStats(
        IReadOnlyDictionary<DropReason, long> Drops,
        int CamEntries,
        IReadOnlyList<PortInfo> Ports,
        long Forwarded,
        long Flooded);

    /// <summary>Periodic CAM ageing sweep (a timer in production; tests send it with a manual clock).</summary>
    public sealed record AgeTick
    {
        public static readonly AgeTick Instance = new();
    }
}
