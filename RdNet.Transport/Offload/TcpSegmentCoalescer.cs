using System.Buffers.Binary;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Offload;

/// <summary>What <see cref="TcpSegmentCoalescer.Offer"/> did with a frame.</summary>
public enum CoalesceResult
{
    /// <summary>The frame is now part of the pending run (its bytes were copied; the caller may release it).</summary>
    Added,
    /// <summary>The frame can be coalesced but does not continue the pending run: write the run, then offer it again.</summary>
    RunEnded,
    /// <summary>The frame is not a plain TCP/IPv4 data segment with valid checksums: write the run, then the frame alone.</summary>
    Ineligible,
}

/// <summary>
/// Joins consecutive TCP/IPv4 data segments of one connection, as they queue for a tap, into one large segment
/// written with a virtio-net header (GSO TCPV4), so the guest kernel takes a burst in one write and one pass
/// through its stack (and acknowledges it once) instead of one per MTU-sized frame. Sans-IO: frames in, bytes to
/// write out; the caller writes <see cref="Complete"/>'s result whenever its queue runs dry, so nothing waits here.
/// </summary>
/// <remarks>
/// A segment joins the run only when the result means exactly the same to the receiver (the rules of Linux's GRO):
/// same Ethernet and IPv4 header apart from length, identification and checksum; no IP options, not a fragment;
/// same ports, acknowledgment number, window and TCP options (so timestamps too); flags ACK and at most PSH; a
/// sequence number that continues the run; every segment but the last of the same size (the run's segment size,
/// which the kernel needs to cut it again if it forwards it). Both checksums of every segment are verified first:
/// the kernel trusts a GSO packet's checksum, so a damaged segment must not hide inside one — it is written alone
/// and the guest drops it as it would have. PSH is OR-ed into the run (as TSO leaves it on the last piece).
/// </remarks>
public sealed class TcpSegmentCoalescer
{
    private const int EthernetHeaderLength = EthernetFrame.HeaderLength;
    private const int IpHeaderLength = Ipv4Packet.MinHeaderLength;
    private const int TcpStart = EthernetHeaderLength + IpHeaderLength;
    private const int PacketStart = VirtioNetHeader.Length;
    private const TcpFlags AllowedFlags = TcpFlags.Ack | TcpFlags.Psh;

    private readonly byte[] _buffer;
    private readonly int _maxPacketLength;
    private int _frameLength;
    private int _segments;
    private int _frameBytes;
    private int _segmentSize;
    private int _tcpHeaderLength;
    private uint _nextSequence;
    private bool _closed;
    private TcpFlags _flags;

    /// <param name="maxIpLength">The largest IPv4 total length a run may reach (at most 65535, the field's limit).</param>
    public TcpSegmentCoalescer(int maxIpLength = ushort.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxIpLength, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIpLength, IpHeaderLength + TcpSegment.MinHeaderLength + 1);
        _maxPacketLength = maxIpLength;
        _buffer = new byte[PacketStart + EthernetHeaderLength + maxIpLength];
    }

    /// <summary>Segments in the pending run (0 when nothing is pending).</summary>
    public int Segments => _segments;

    /// <summary>The summed lengths of the frames in the pending run, as they were offered (for byte counters).</summary>
    public int FrameBytes => _frameBytes;

    /// <summary>Offers the next frame queued for the tap; see <see cref="CoalesceResult"/> for what to do next.</summary>
    public CoalesceResult Offer(ReadOnlySpan<byte> frame)
    {
        // A frame over half the run limit leaves no room for a second segment of its size (at MTU 65520 every full one):
        // it is written alone, without being copied or checksummed here (the guest verifies it as any plain frame).
        if (frame.Length - EthernetHeaderLength > _maxPacketLength / 2
            || !IsPlainDataSegment(frame, out int tcpHeaderLength, out int payloadLength)) return CoalesceResult.Ineligible;
        if (_segments == 0)
        {
            Start(frame, tcpHeaderLength, payloadLength);
            return CoalesceResult.Added;
        }
        if (!Continues(frame, tcpHeaderLength, payloadLength)) return CoalesceResult.RunEnded;
        frame[(TcpStart + tcpHeaderLength)..].CopyTo(_buffer.AsSpan(PacketStart + _frameLength));
        _frameLength += payloadLength;
        _frameBytes += frame.Length;
        _segments++;
        _nextSequence += (uint)payloadLength;
        _flags |= (TcpFlags)frame[TcpStart + TcpSegment.FlagsOffset];
        if (payloadLength < _segmentSize) _closed = true;
        return CoalesceResult.Added;
    }

    /// <summary>
    /// Ends the pending run and returns what to write to the tap: virtio-net header plus frame. A run of one segment is
    /// that frame unchanged behind a plain header; a longer run is one GSO segment. Empty when nothing is pending. The
    /// span is valid until the next <see cref="Offer"/>.
    /// </summary>
    public ReadOnlySpan<byte> Complete()
    {
        if (_segments == 0) return [];
        var packet = _buffer.AsSpan(PacketStart, _frameLength);
        if (_segments == 1)
        {
            VirtioNetHeader.WritePlain(_buffer);
        }
        else
        {
            var ip = packet[EthernetHeaderLength..];
            int ipLength = _frameLength - EthernetHeaderLength;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)ipLength);
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..IpHeaderLength]));

            var tcp = packet[TcpStart..];
            tcp[TcpSegment.FlagsOffset] = (byte)_flags;
            // NEEDS_CSUM: the field holds the pseudo-header sum (not complemented), as a NIC with TSO expects.
            var pseudo = InternetChecksum.PseudoHeader(Ipv4Address.Read(ip[12..]), Ipv4Address.Read(ip[16..]), IpProtocol.Tcp, ipLength - IpHeaderLength);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[TcpSegment.ChecksumOffset..], (ushort)~InternetChecksum.Fold(pseudo));

            VirtioNetHeader.WriteTcpV4Segmentation(_buffer, TcpStart + _tcpHeaderLength, _segmentSize, TcpStart, TcpSegment.ChecksumOffset);
        }
        var result = _buffer.AsSpan(0, PacketStart + _frameLength);
        _segments = 0;
        _frameLength = 0;
        _frameBytes = 0;
        return result;
    }

    private void Start(ReadOnlySpan<byte> frame, int tcpHeaderLength, int payloadLength)
    {
        frame.CopyTo(_buffer.AsSpan(PacketStart));
        _frameLength = frame.Length;
        _frameBytes = frame.Length;
        _segments = 1;
        _segmentSize = payloadLength;
        _tcpHeaderLength = tcpHeaderLength;
        _nextSequence = BinaryPrimitives.ReadUInt32BigEndian(frame[(TcpStart + TcpSegment.SequenceOffset)..]) + (uint)payloadLength;
        _flags = (TcpFlags)frame[TcpStart + TcpSegment.FlagsOffset];
        _closed = false;
    }

    private bool Continues(ReadOnlySpan<byte> frame, int tcpHeaderLength, int payloadLength)
    {
        if (_closed || payloadLength > _segmentSize || tcpHeaderLength != _tcpHeaderLength) return false;
        if (_frameLength - EthernetHeaderLength + payloadLength > _maxPacketLength) return false;
        var run = _buffer.AsSpan(PacketStart, TcpStart + tcpHeaderLength);
        // Ethernet addresses and type.
        if (!frame[..EthernetHeaderLength].SequenceEqual(run[..EthernetHeaderLength])) return false;
        // IPv4: version/IHL and TOS; flags and fragment offset, TTL, protocol; addresses (length, ID, checksum may differ).
        var ip = frame[EthernetHeaderLength..];
        var runIp = run[EthernetHeaderLength..];
        if (!ip[..2].SequenceEqual(runIp[..2]) || !ip[6..10].SequenceEqual(runIp[6..10]) || !ip[12..20].SequenceEqual(runIp[12..20])) return false;
        // TCP: ports; the next sequence number; acknowledgment, data offset, window; options; flags apart from PSH.
        var tcp = frame[TcpStart..];
        var runTcp = run[TcpStart..];
        if (!tcp[..4].SequenceEqual(runTcp[..4])) return false;
        if (BinaryPrimitives.ReadUInt32BigEndian(tcp[TcpSegment.SequenceOffset..]) != _nextSequence) return false;
        if (!tcp[TcpSegment.AcknowledgmentOffset..(TcpSegment.DataOffsetOffset + 1)].SequenceEqual(runTcp[TcpSegment.AcknowledgmentOffset..(TcpSegment.DataOffsetOffset + 1)])) return false;
        if (!tcp[TcpSegment.WindowOffset..TcpSegment.ChecksumOffset].SequenceEqual(runTcp[TcpSegment.WindowOffset..TcpSegment.ChecksumOffset])) return false;
        if ((((TcpFlags)tcp[TcpSegment.FlagsOffset] ^ (TcpFlags)runTcp[TcpSegment.FlagsOffset]) & ~TcpFlags.Psh) != 0) return false;
        return tcp[TcpSegment.MinHeaderLength..tcpHeaderLength].SequenceEqual(runTcp[TcpSegment.MinHeaderLength..tcpHeaderLength]);
    }

    /// <summary>
    /// An Ethernet frame holding exactly one IPv4 packet without options, not a fragment, carrying a TCP segment with
    /// data, flags ACK (and maybe PSH) only, and correct IP and TCP checksums.
    /// </summary>
    internal static bool IsPlainDataSegment(ReadOnlySpan<byte> frame, out int tcpHeaderLength, out int payloadLength)
    {
        tcpHeaderLength = 0;
        payloadLength = 0;
        if (frame.Length < TcpStart + TcpSegment.MinHeaderLength + 1) return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != EtherType.Ipv4) return false;
        var ip = frame[EthernetHeaderLength..];
        if (ip[0] != 0x45 || ip[9] != IpProtocol.Tcp) return false;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return false; // MF or a fragment offset
        int ipLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (ipLength != ip.Length) return false; // no Ethernet padding (a data segment is never that short) nor truncation
        var tcp = ip[IpHeaderLength..];
        int headerLength = (tcp[TcpSegment.DataOffsetOffset] >> 4) * 4;
        if (headerLength < TcpSegment.MinHeaderLength || headerLength >= tcp.Length) return false;
        if (((TcpFlags)tcp[TcpSegment.FlagsOffset] & ~AllowedFlags) != 0 || ((TcpFlags)tcp[TcpSegment.FlagsOffset] & TcpFlags.Ack) == 0) return false;
        if (InternetChecksum.Compute(ip[..IpHeaderLength]) != 0) return false;
        var pseudo = InternetChecksum.PseudoHeader(Ipv4Address.Read(ip[12..]), Ipv4Address.Read(ip[16..]), IpProtocol.Tcp, tcp.Length);
        if (InternetChecksum.Fold(InternetChecksum.Add(pseudo, tcp)) != 0) return false;
        tcpHeaderLength = headerLength;
        payloadLength = tcp.Length - headerLength;
        return true;
    }
}
