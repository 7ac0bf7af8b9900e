using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Switch;
using RdNet.Actors.Tests.Support;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Switching;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tests.Support.GuestFrames;

namespace RdNet.Actors.Tests.Switch;

/// <summary>The switching step that runs on the arriving thread: ports leaving the table, and in-process ports' inline take.</summary>
public sealed class SwitchFabricTests
{
    private readonly FramePool _pool = new(64, 4000);
    private readonly SwitchCore _core = new(new CamTable(64, TimeSpan.FromMinutes(5)), new DropCounters());
    private readonly SwitchFabric _fabric;

    public SwitchFabricTests()
    {
        _fabric = new SwitchFabric(_core, new RouterOptions(64, TimeSpan.FromMinutes(5), TimeSpan.Zero, 16), new PacketTrace(false),
            () => 0, NoLogger.Instance);
    }

    private FrameBuffer Frame(int ingress, byte[] bytes)
    {
        var f = _pool.TryRent(bytes.Length)!;
        bytes.CopyTo(f.Array, 0);
        f.SetLength(bytes.Length);
        f.Ingress = ingress;
        return f;
    }

    private sealed class Taker(bool take) : IInlineReceiver
    {
        public int Taken;

        public bool TryTake(FrameBuffer frame)
        {
            if (!take) return false;
            Taken++;
            frame.Release();
            return true;
        }
    }

    [Fact]
    public void A_frame_from_a_port_already_removed_is_dropped_and_its_source_is_not_learned()
    {
        _fabric.Add(new SwitchFabric.Port(1, ActorRefs.Nobody, null, new Taker(true)));
        _fabric.Add(new SwitchFabric.Port(2, ActorRefs.Nobody, null, new Taker(true)));
        var removed = _fabric.Remove(2, c => c.Cam.RemovePort(2));
        Assert.Equal(0, removed);

        // The detached port's reader still had this frame: it must not point the CAM at port 2 again.
        _fabric.Switch(Frame(2, Ethernet(GatewayMac, GuestMac, EtherType.Ipv4, new byte[46])));

        Assert.False(_core.Cam.TryLookup(GuestMac, out _));
        Assert.Equal(1, _core.Drops.Snapshot()[DropReason.IngressPortDetached]);
        Assert.Equal(0, _pool.Outstanding);
    }

    [Fact]
    public void An_in_process_port_takes_frames_inline_and_a_refusal_falls_back_to_its_actor()
    {
        var takes = new Taker(true);
        _fabric.Add(new SwitchFabric.Port(1, ActorRefs.Nobody, null, takes));
        _fabric.Add(new SwitchFabric.Port(2, ActorRefs.Nobody, null, new Taker(false)));
        _core.Cam.AddStatic(GatewayMac, 1);
        _fabric.Switch(Frame(2, Ethernet(GatewayMac, GuestMac, EtherType.Ipv4, new byte[46])));
        Assert.Equal(1, takes.Taken);
        Assert.Equal(0, _pool.Outstanding);
        Assert.True(_core.Cam.TryLookup(GuestMac, out var port) && port == 2);
    }
}
