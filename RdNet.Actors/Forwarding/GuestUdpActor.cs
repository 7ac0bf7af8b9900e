using Akka.Actor;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Udp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Forwarding;

/// <summary>
/// The gateway's UDP forward service (<see cref="GatewayService.UdpForward"/>): datagrams that UDP port forwards send
/// into the guest leave from .1:port, one port per forward flow for as long as that flow lives; what the guest sends
/// back to such a port (from the address and port the flow talks to, nothing else) goes to the flow. A datagram for no
/// flow's port is a counted drop (<see cref="DropReason.ForwardUdpNoFlow"/>). A datagram goes to the MAC the guest's
/// replies came from, else to the one the gateway learned for that address (<see cref="NeighborTable"/>: DHCP, ARP),
/// else to the configured guest MAC.
/// </summary>
public sealed class GuestUdpActor : ReceiveActor
{
    private readonly VirtualNetwork _net;
    private readonly IFrameSink _sink;
    private readonly FramePool _pool;
    private readonly DropCounters _drops;
    private readonly ushort _first, _last;
    private readonly Dictionary<IActorRef, ushort> _ports = [];
    private readonly Dictionary<ushort, (IActorRef Flow, Ipv4Address Guest, ushort GuestPort)> _byPort = [];
    private readonly Dictionary<Ipv4Address, MacAddress> _neighbors = [];
    private readonly NeighborTable? _gatewayNeighbors;
    private uint _cursor;
    private ushort _ipId;

    public GuestUdpActor(VirtualNetwork network, IFrameSink sink, FramePool pool, DropCounters drops, ushort firstPort, ushort lastPort,
        NeighborTable? gatewayNeighbors)
    {
        _gatewayNeighbors = gatewayNeighbors;
        _net = network;
        _sink = sink;
        _pool = pool;
        _drops = drops;
        _first = firstPort;
        _last = lastPort;
        Receive<SendToGuest>(OnSend);
        Receive<FrameBuffer>(OnFrame);
        Receive<Terminated>(t =>
        {
            if (_ports.Remove(t.ActorRef, out var port)) _byPort.Remove(port);
        });
    }

    private void OnSend(SendToGuest s)
    {
        if (!_ports.TryGetValue(Sender, out var port))
        {
            if (!TryAllocate(out port))
            {
                _drops.Increment(DropReason.ForwardUdpSendFailed);
                return;
            }
            _ports[Sender] = port;
            _byPort[port] = (Sender, s.Guest, s.GuestPort);
            Context.Watch(Sender);
        }
        var length = NatFrames.UdpOverhead + s.Payload.Length;
        if (length > _pool.BufferSize || length - EthernetFrame.HeaderLength > _net.Mtu)
        {
            _drops.Increment(DropReason.ForwardUdpSendFailed); // no fragmentation towards the guest
            return;
        }
        var frame = _pool.TryRent(length);
        if (frame is null)
        {
            _drops.Increment(DropReason.FramePoolExhausted);
            return;
        }
        var mac = _neighbors.TryGetValue(s.Guest, out var known) ? known : _gatewayNeighbors?.MacFor(s.Guest) ?? _net.GuestMac;
        var n = NatFrames.WriteUdp(frame.Array, mac, _net.GatewayMac, _net.Gateway, port, s.Guest, s.GuestPort, s.Payload, _ipId++);
        frame.SetLength(n);
        _sink.Deliver(frame);
    }

    private bool TryAllocate(out ushort port)
    {
        int count = _last - _first + 1;
        for (var i = 0; i < count; i++)
        {
            port = (ushort)(_first + (int)(_cursor++ % (uint)count));
            if (!_byPort.ContainsKey(port)) return true;
        }
        port = 0;
        return false;
    }

    private void OnFrame(FrameBuffer frame)
    {
        try
        {
            if (!EthernetFrame.TryCreate(frame.Span, out var eth, out var reason)
                || !Ipv4Packet.TryCreate(eth.Payload, out var ip, out reason)
                || !UdpDatagram.TryCreate(ip.Payload, ip.Source, ip.Destination, out var udp, out reason))
            {
                _drops.Increment(reason);
                return;
            }
            if (!_byPort.TryGetValue(udp.DestinationPort, out var flow) || flow.Guest != ip.Source || flow.GuestPort != udp.SourcePort)
            {
                _drops.Increment(DropReason.ForwardUdpNoFlow);
                return;
            }
            if (_neighbors.Count < _byPort.Count + 16 || _neighbors.ContainsKey(ip.Source)) _neighbors[ip.Source] = eth.Source;
            flow.Flow.Tell(new GuestDatagram(udp.Payload.ToArray()));
        }
        finally
        {
            frame.Release();
        }
    }

    public static Props Props(VirtualNetwork network, IFrameSink sink, FramePool pool, DropCounters drops, ushort firstPort, ushort lastPort,
        NeighborTable? gatewayNeighbors = null) =>
        Akka.Actor.Props.Create(() => new GuestUdpActor(network, sink, pool, drops, firstPort, lastPort, gatewayNeighbors));
}
