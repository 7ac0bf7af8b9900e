using System.Collections.Concurrent;
using Akka.Actor;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Tests.Tcp;

/// <summary>
/// A guest's TCP stack for actor tests: active-open engines whose segments go to the NAT actor as frames, and which
/// take the NAT's frames from the sink the NAT was given. Driven from the test thread on the real clock.
/// </summary>
public sealed class GuestTcpStack : IFrameSink
{
    private readonly ConcurrentQueue<FrameBuffer> _fromNat = new();
    private readonly FramePool _pool;
    private readonly VirtualNetwork _net;
    private readonly Dictionary<(ushort Local, Ipv4Address Remote, ushort RemotePort), (TcpConnection Conn, TcpFrameWriter Out)> _conns = [];
    private ushort _nextPort = 40000;

    public GuestTcpStack(FramePool pool, VirtualNetwork net)
    {
        _pool = pool;
        _net = net;
    }

    public IActorRef Nat { get; set; } = ActorRefs.Nobody;
    public DropCounters Drops { get; } = new();

    /// <summary>Raw segments seen from the NAT for tuples with no engine here (RSTs to SYNs we sent by hand, for instance).</summary>
    public ConcurrentQueue<(TcpFlags Flags, ushort DstPort, Ipv4Address Src, ushort SrcPort, uint Seq, uint Ack)> Stray { get; } = new();

    public void Deliver(FrameBuffer frame) => _fromNat.Enqueue(frame);

    private sealed class ToNat(GuestTcpStack stack) : IFrameSink
    {
        public void Deliver(FrameBuffer frame) => stack.Nat.Tell(frame, ActorRefs.NoSender);
    }

    /// <summary>An active open; <paramref name="port"/> and <paramref name="iss"/> pick the source port (a new incarnation of an old 4-tuple) and the initial sequence number.</summary>
    public (TcpConnection Conn, ushort Port) Connect(Ipv4Address remote, ushort remotePort, TcpConfig? cfg = null, ushort? port = null, uint? iss = null)
    {
        var local = port ?? _nextPort++;
        var conn = TcpConnection.Connect(cfg ?? new TcpConfig(), Drops, new SeqNum(iss ?? (uint)Random.Shared.NextInt64()), Environment.TickCount64);
        // The writer is built from the remote's point of view; swap roles: the guest sends from Guest:port to remote.
        var writer = new TcpFrameWriter(_pool, new ToNat(this), Drops, _net.GatewayMac, _net.GuestMac, _net.Guest, local, remote, remotePort);
        _conns[(local, remote, remotePort)] = (conn, writer);
        conn.Poll(Environment.TickCount64, writer);
        return (conn, local);
    }

    /// <summary>Sends one hand-made segment (SYN floods, stray RSTs).</summary>
    public void SendRaw(ushort srcPort, Ipv4Address remote, ushort remotePort, TcpSegmentOut seg)
    {
        var writer = new TcpFrameWriter(_pool, new ToNat(this), Drops, _net.GatewayMac, _net.GuestMac, _net.Guest, srcPort, remote, remotePort);
        writer.Send(seg, default, default);
    }

    /// <summary>Moves frames and runs timers until <paramref name="done"/> or the timeout.</summary>
    public bool RunUntil(Func<bool> done, TimeSpan timeout, Action? app = null)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end)
        {
            bool any = false;
            long now = Environment.TickCount64;
            while (_fromNat.TryDequeue(out var f))
            {
                any = true;
                try
                {
                    Dispatch(f, now);
                }
                finally
                {
                    f.Release();
                }
            }
            app?.Invoke();
            foreach (var (conn, w) in _conns.Values) conn.Poll(now, w);
            if (done()) return true;
            if (!any) Thread.Sleep(1);
        }
        return done();
    }

    private void Dispatch(FrameBuffer f, long now)
    {
        if (!EthernetFrame.TryCreate(f.Span, out var eth, out _) || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out _)
            || !TcpSegment.TryCreate(ip.Payload, ip.Source, ip.Destination, out var tcp, out var reason))
        {
            throw new InvalidOperationException("the NAT sent a malformed frame");
        }
        Assert.Equal(_net.GuestMac, eth.Destination);
        Assert.Equal(_net.GatewayMac, eth.Source);
        if (_conns.TryGetValue((tcp.DestinationPort, ip.Source, tcp.SourcePort), out var c))
            c.Conn.Receive(TcpSegmentIn.From(tcp), now, c.Out);
        else
            Stray.Enqueue((tcp.Flags, tcp.DestinationPort, ip.Source, tcp.SourcePort, tcp.SequenceNumber, tcp.AcknowledgmentNumber));
    }

    public void Abort(ushort port, Ipv4Address remote, ushort remotePort)
    {
        var c = _conns[(port, remote, remotePort)];
        c.Conn.Abort(c.Out);
    }
}
