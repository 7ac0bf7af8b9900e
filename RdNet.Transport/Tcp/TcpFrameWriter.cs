using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tcp;

/// <summary>
/// Turns a connection's segments into whole Ethernet frames for one 4-tuple, seen from the remote end (the address
/// the guest connected to): payload copied once from the send ring into a pooled frame, headers and checksums
/// written around it, the frame handed to a sink. No allocation per segment.
/// </summary>
public sealed class TcpFrameWriter : ITcpOutput
{
    private const byte Ttl = 64;
    private const int Overhead = EthernetFrame.HeaderLength + Ipv4Header.Length + TcpSegment.MinHeaderLength;

    private readonly FramePool _pool;
    private readonly IFrameSink _sink;
    private readonly DropCounters _drops;
    private ushort _ipId;

    public TcpFrameWriter(FramePool pool, IFrameSink sink, DropCounters drops, MacAddress guestMac, MacAddress gatewayMac,
        Ipv4Address remote, ushort remotePort, Ipv4Address guest, ushort guestPort)
    {
        _pool = pool;
        _sink = sink;
        _drops = drops;
        GuestMac = guestMac;
        GatewayMac = gatewayMac;
        Remote = remote;
        RemotePort = remotePort;
        Guest = guest;
        GuestPort = guestPort;
        _ipId = (ushort)(remotePort ^ guestPort);
    }

    public MacAddress GuestMac { get; }
    public MacAddress GatewayMac { get; }
    public Ipv4Address Remote { get; }
    public ushort RemotePort { get; }
    public Ipv4Address Guest { get; }
    public ushort GuestPort { get; }

    /// <summary>Segments refused since the last reset (no pool buffer): the owner retries a little later.</summary>
    public int Refused { get; set; }

    /// <summary>Frames written.</summary>
    public long Frames { get; private set; }

    public bool Send(in TcpSegmentOut segment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payload2)
    {
        int payloadLength = payload.Length + payload2.Length;
        int tcpLength = TcpSegment.MinHeaderLength + segment.Options.EncodedLength + payloadLength;
        int total = EthernetFrame.HeaderLength + Ipv4Header.Length + tcpLength;
        if (total > _pool.BufferSize)
        {
            _drops.Increment(DropReason.FrameLengthTooLarge);
            Refused++;
            return false;
        }
        var frame = _pool.TryRent(total);
        if (frame is null)
        {
            _drops.Increment(DropReason.FramePoolExhausted);
            Refused++;
            return false;
        }
        var span = frame.Array.AsSpan(0, total);
        EthernetFrame.WriteHeader(span, GuestMac, GatewayMac, EtherType.Ipv4);
        var ip = span[EthernetFrame.HeaderLength..];
        var tcp = ip[Ipv4Header.Length..];
        int dataAt = TcpSegment.MinHeaderLength + segment.Options.EncodedLength;
        payload.CopyTo(tcp[dataAt..]);
        payload2.CopyTo(tcp[(dataAt + payload.Length)..]);
        TcpHeader.Emit(tcp, Remote, Guest, RemotePort, GuestPort, segment.Seq.Value, segment.Ack.Value, segment.Flags,
            segment.Window, segment.Options, payloadLength);
        Ipv4Header.Emit(ip, Remote, Guest, IpProtocol.Tcp, tcpLength, Ttl, _ipId++, dontFragment: true);
        frame.SetLength(total);
        Frames++;
        _sink.Deliver(frame);
        return true;
    }

    /// <summary>Largest payload that fits one pooled frame with a full option set.</summary>
    public static int MaxPayload(FramePool pool) => pool.BufferSize - Overhead - TcpOptions.MaxLength;
}
