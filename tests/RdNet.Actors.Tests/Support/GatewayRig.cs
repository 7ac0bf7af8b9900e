using Akka.Actor;
using Akka.TestKit;
using RdNet.Actors.Gateway;
using RdNet.Actors.Switch;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Protocols.Dhcp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Tests.Support;

/// <summary>A router with the gateway attached (with the given services) and a guest on an in-memory link.</summary>
public static class GatewayRig
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(3);

    /// <summary>Stands for a service or a flow: passes each frame's bytes to a probe and releases the buffer.</summary>
    public sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef probe) => Receive<FrameBuffer>(f =>
        {
            probe.Tell(f.Span.ToArray());
            f.Release();
        });

        public static Props Props(IActorRef probe) => Akka.Actor.Props.Create(() => new Relay(probe));
    }

    public static GatewayCore Core(VirtualNetwork net, FramePool pool, IEnumerable<GatewayService> services, NeighborTable? neighbors = null) =>
        new(net, new DhcpServer(new DhcpServerOptions(net.Gateway, net.Network, net.PrefixLength, net.Gateway, [net.Gateway], 1500,
                TimeSpan.FromHours(1), new Dictionary<MacAddress, Ipv4Address>(), [net.Gateway, net.HostAlias], [], 64, TimeSpan.FromSeconds(30))),
            pool, neighbors is null ? new DropCounters() : Drops(neighbors), new HashSet<GatewayService>(services), neighbors);

    /// <summary>Where <paramref name="neighbors"/> counts (the gateway and its table share one set of counters).</summary>
    private static DropCounters Drops(NeighborTable neighbors) => neighbors.Drops;

    /// <summary>Starts router and gateway from <paramref name="kit"/> (whose test actor sees the attachments) and attaches a guest link.</summary>
    public static (IActorRef Router, IActorRef Gateway, LinkPeer Guest) Start(TestKitBase kit, FramePool pool, VirtualNetwork net, GatewayCore core,
        IReadOnlyDictionary<GatewayService, Func<IFrameSink, Props>>? services = null, GatewayFastPath? fastPath = null)
    {
        var router = kit.ChildActorOf(RouterActor.Props(new RouterOptions(64, TimeSpan.FromMinutes(5), TimeSpan.Zero, 16)));
        var gateway = kit.Sys.ActorOf(GatewayActor.Props(core, router, net, TimeSpan.Zero, services, fastPath: fastPath));
        kit.ExpectMsg<PortAttached>(a => a.Name.StartsWith("gateway", StringComparison.Ordinal), Wait);
        var (ours, theirs) = InMemoryLink.CreatePair(pool, name: "guest");
        router.Tell(new AttachLink(theirs, "guest"));
        kit.ExpectMsg<PortAttached>(a => a.Name == "guest", Wait);
        return (router, gateway, new LinkPeer(ours, pool));
    }
}
