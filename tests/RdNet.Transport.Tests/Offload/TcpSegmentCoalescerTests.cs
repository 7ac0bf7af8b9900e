using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Offload;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Offload;

public class TcpSegmentCoalescerTests
{
    private static readonly MacAddress GuestMac = MacAddress.Parse("5a:94:ef:e4:0c:ee");
    private static readonly MacAddress GatewayMac = MacAddress.Parse("5a:94:ef:e4:0c:dd");
    private static readonly Ipv4Address Host = new(192, 168, 127, 254);
    private static readonly Ipv4Address Guest = new(192, 168, 127, 2);
    private const int EthIp = 14 + 20;

    /// <summary>A segment as host-switch sends it to the guest: Ethernet + IPv4 + TCP with timestamps, valid checksums.</summary>
    public sealed record Seg(uint Seq, int Length, TcpFlags Flags = TcpFlags.Ack, uint Ack = 1000, ushort Window = 502,
        uint TsVal = 77, ushort SrcPort = 80, ushort DstPort = 40000, MacAddress? Dst = null, byte Ttl = 64, ushort Id = 1)
    {
        public byte[] Frame(byte fill = 0)
        {
            var options = new TcpOptions(null, null, false, TsVal, 5);
            int tcpLength = 20 + options.EncodedLength + Length;
            var f = new byte[EthIp + tcpLength];
            EthernetFrame.WriteHeader(f, Dst ?? GuestMac, GatewayMac, EtherType.Ipv4);
            for (int i = 0; i < Length; i++) f[EthIp + 20 + options.EncodedLength + i] = (byte)(fill + Seq + i);
            TcpHeader.Emit(f.AsSpan(EthIp), Host, Guest, SrcPort, DstPort, Seq, Ack, Flags, Window, options, Length);
            Ipv4Header.Emit(f.AsSpan(14), Host, Guest, IpProtocol.Tcp, tcpLength, Ttl, Id, dontFragment: true);
            return f;
        }
    }

    private static byte[] Payload(byte[] frame)
    {
        int tcpHeader = (frame[EthIp + 12] >> 4) * 4;
        return frame[(EthIp + tcpHeader)..];
    }

    [Fact]
    public void Consecutive_segments_become_one_GSO_segment_the_kernel_can_complete_and_cut()
    {
        var c = new TcpSegmentCoalescer();
        var segs = new[] { new Seg(5000, 1448), new Seg(6448, 1448), new Seg(7896, 1448, TcpFlags.Ack | TcpFlags.Psh), new Seg(9344, 500) };
        var frames = segs.Select(s => s.Frame()).ToArray();
        foreach (var f in frames) Assert.Equal(CoalesceResult.Added, c.Offer(f));
        Assert.Equal(4, c.Segments);
        Assert.Equal(frames.Sum(f => f.Length), c.FrameBytes);

        var written = c.Complete().ToArray();
        Assert.Equal(0, c.Segments);
        var h = new VirtioNetHeader(written);
        Assert.Equal(VirtioNetHeader.FlagNeedsChecksum, h.Flags);
        Assert.Equal(VirtioNetHeader.GsoTcpV4, h.GsoType);
        Assert.Equal(1448, h.GsoSize);
        Assert.Equal(EthIp, h.ChecksumStart);
        Assert.Equal(16, h.ChecksumOffset);
        Assert.Equal(EthIp + 32, h.HeaderLength);

        var packet = written.AsSpan(VirtioNetHeader.Length).ToArray();
        Assert.Equal(frames[0].AsSpan(0, 14).ToArray(), packet[..14]);
        Assert.True(Ipv4Packet.TryCreate(packet.AsSpan(14), out var ip, out var reason), reason.ToString());
        Assert.Equal(20 + 32 + 3 * 1448 + 500, ip.TotalLength);
        Assert.Equal(0, InternetChecksum.Compute(ip.Header));
        Assert.Equal(frames.SelectMany(Payload).ToArray(), Payload(packet));
        var tcp = packet.AsSpan(EthIp);
        Assert.Equal(5000u, BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
        Assert.Equal(TcpFlags.Ack | TcpFlags.Psh, (TcpFlags)tcp[13]); // PSH of any piece is kept, as TSO leaves it on the last

        // What the kernel does with NEEDS_CSUM: add everything from csum_start to the pseudo-header sum in the field.
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Compute(tcp));
        Assert.True(TcpSegment.TryCreate(tcp, Host, Guest, out _, out reason), reason.ToString());
    }

    [Fact]
    public void A_run_of_one_is_the_frame_unchanged_behind_a_plain_header()
    {
        var c = new TcpSegmentCoalescer();
        var frame = new Seg(1, 1448).Frame();
        Assert.Equal(CoalesceResult.Added, c.Offer(frame));
        var written = c.Complete();
        Assert.Equal(new byte[VirtioNetHeader.Length], written[..VirtioNetHeader.Length].ToArray());
        Assert.Equal(frame, written[VirtioNetHeader.Length..].ToArray());
        Assert.True(c.Complete().IsEmpty);
    }

    public static TheoryData<string, Seg> NotAContinuation => new()
    {
        { "sequence gap", new Seg(1 + 1448 + 1, 1448) },
        { "sequence repeat", new Seg(1, 1448) },
        { "other acknowledgment", new Seg(1449, 1448, Ack: 1001) },
        { "other window", new Seg(1449, 1448, Window: 503) },
        { "other timestamp", new Seg(1449, 1448, TsVal: 78) },
        { "other source port", new Seg(1449, 1448, SrcPort: 81) },
        { "other destination port", new Seg(1449, 1448, DstPort: 40001) },
        { "larger than the run's segments", new Seg(1449, 1449) },
        { "other destination MAC", new Seg(1449, 1448, Dst: MacAddress.Parse("5a:94:ef:e4:0c:ef")) },
        { "other TTL", new Seg(1449, 1448, Ttl: 63) },
    };

    [Theory]
    [MemberData(nameof(NotAContinuation))]
    public void A_segment_that_does_not_continue_the_run_ends_it(string why, Seg next)
    {
        var c = new TcpSegmentCoalescer();
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1, 1448).Frame()));
        Assert.True(CoalesceResult.RunEnded == c.Offer(next.Frame()), why);
        Assert.Equal(1, c.Segments);
    }

    [Fact]
    public void A_short_segment_is_the_last_of_its_run()
    {
        var c = new TcpSegmentCoalescer();
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1, 1448).Frame()));
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1449, 100).Frame()));
        Assert.Equal(CoalesceResult.RunEnded, c.Offer(new Seg(1549, 100).Frame()));
    }

    [Fact]
    public void A_run_stops_below_the_IP_length_limit()
    {
        var c = new TcpSegmentCoalescer(maxIpLength: 20 + 32 + 3 * 1448 - 1);
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1, 1448).Frame()));
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1449, 1448).Frame()));
        Assert.Equal(CoalesceResult.RunEnded, c.Offer(new Seg(2897, 1448).Frame()));
        var written = c.Complete();
        Assert.Equal(20 + 32 + 2 * 1448, BinaryPrimitives.ReadUInt16BigEndian(written[(VirtioNetHeader.Length + 16)..]));
    }

    [Fact]
    public void A_segment_over_half_the_limit_is_written_alone_as_no_second_one_of_its_size_fits()
    {
        var c = new TcpSegmentCoalescer();
        Assert.Equal(CoalesceResult.Ineligible, c.Offer(new Seg(1, 40_000).Frame()));
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(1, 30_000).Frame()));
        Assert.Equal(CoalesceResult.Added, c.Offer(new Seg(30_001, 30_000).Frame()));
    }

    public static TheoryData<string, byte[]> Ineligible()
    {
        var data = new TheoryData<string, byte[]>
        {
            { "SYN", new Seg(1, 10, TcpFlags.Syn | TcpFlags.Ack).Frame() },
            { "FIN", new Seg(1, 10, TcpFlags.Fin | TcpFlags.Ack).Frame() },
            { "RST", new Seg(1, 10, TcpFlags.Rst | TcpFlags.Ack).Frame() },
            { "URG", new Seg(1, 10, TcpFlags.Urg | TcpFlags.Ack).Frame() },
            { "ECE", new Seg(1, 10, TcpFlags.Ece | TcpFlags.Ack).Frame() },
            { "no ACK", new Seg(1, 10, TcpFlags.Psh).Frame() },
            { "no data", new Seg(1, 0).Frame() },
        };
        var badTcp = new Seg(1, 1448).Frame();
        badTcp[^1] ^= 0xFF;
        data.Add("bad TCP checksum", badTcp);
        var badIp = new Seg(1, 1448).Frame();
        badIp[14 + 8] = 1; // TTL changed, header checksum not
        data.Add("bad IP checksum", badIp);
        var fragment = new Seg(1, 1448).Frame();
        fragment[14 + 6] = 0x20; // MF
        fragment[14 + 10] = fragment[14 + 11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(14 + 10), InternetChecksum.Compute(fragment.AsSpan(14, 20)));
        data.Add("fragment", fragment);
        var padded = new Seg(1, 10).Frame().Concat(new byte[8]).ToArray();
        data.Add("Ethernet padding", padded);
        var udp = new Seg(1, 10).Frame();
        udp[14 + 9] = IpProtocol.Udp;
        data.Add("UDP", udp);
        var arp = new byte[60];
        EthernetFrame.WriteHeader(arp, GuestMac, GatewayMac, EtherType.Arp);
        data.Add("ARP", arp);
        data.Add("runt", new Seg(1, 10).Frame()[..40]);
        return data;
    }

    [Theory]
    [MemberData(nameof(Ineligible))]
    public void Anything_but_a_plain_data_segment_with_valid_checksums_is_written_alone(string why, byte[] frame)
    {
        var c = new TcpSegmentCoalescer();
        Assert.True(CoalesceResult.Ineligible == c.Offer(frame), why);
        Assert.Equal(0, c.Segments);
    }

    /// <summary>
    /// Segments of two connections, of random sizes, interleaved at random and now and then damaged, go through the
    /// coalescer exactly as the tap writer uses it; cutting every written GSO segment again at its gso_size gives back
    /// every original segment, bytes, order and all.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Cutting_what_was_written_gives_back_every_segment_in_order(int seed)
    {
        var rng = new Random(seed);
        var next = new uint[] { 1000, 900_000 };
        var sent = new List<byte[]>();
        for (int i = 0; i < 2000; i++)
        {
            int flow = rng.Next(10) < 8 ? 0 : 1;
            int length = rng.Next(10) < 7 ? 1448 : rng.Next(1, 1449);
            var frame = new Seg(next[flow], length, rng.Next(20) == 0 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack,
                TsVal: (uint)(i / 50), SrcPort: (ushort)(80 + flow)).Frame((byte)i);
            if (rng.Next(100) == 0) frame[^1] ^= 0x5A; // damaged: must be written alone, as it is
            next[flow] += (uint)length;
            sent.Add(frame);
        }

        var c = new TcpSegmentCoalescer();
        var written = new List<byte[]>();
        void Flush() { if (c.Segments > 0) written.Add(c.Complete().ToArray()); }
        foreach (var frame in sent)
        {
            var r = c.Offer(frame);
            if (r == CoalesceResult.RunEnded) { Flush(); r = c.Offer(frame); }
            if (r == CoalesceResult.Ineligible) { Flush(); written.Add(new byte[VirtioNetHeader.Length].Concat(frame).ToArray()); }
            else Assert.Equal(CoalesceResult.Added, r);
        }
        Flush();

        var cut = written.SelectMany(Cut).ToList();
        Assert.Equal(sent.Count, cut.Count);
        for (int i = 0; i < sent.Count; i++)
        {
            Assert.Equal(SeqOf(sent[i]), SeqOf(cut[i]));
            Assert.Equal(Payload(sent[i]), Payload(cut[i]));
        }
        Assert.True(written.Count < sent.Count * 3 / 4, $"{written.Count} writes for {sent.Count} segments");
    }

    private static uint SeqOf(byte[] frame) => BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(EthIp + 4));

    /// <summary>What the kernel's segmentation does with a written GSO segment (and checks its header and checksums).</summary>
    private static List<byte[]> Cut(byte[] written)
    {
        var h = new VirtioNetHeader(written);
        var packet = written[VirtioNetHeader.Length..];
        if (h.GsoType == VirtioNetHeader.GsoNone)
        {
            Assert.Equal(0, h.Flags);
            return [packet];
        }
        Assert.Equal(VirtioNetHeader.GsoTcpV4, h.GsoType);
        var pieces = new List<byte[]>();
        var tcp = packet.AsSpan(EthIp).ToArray();
        int header = (tcp[12] >> 4) * 4;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), InternetChecksum.Compute(tcp));
        Assert.Equal(0, InternetChecksum.Fold(InternetChecksum.Add(InternetChecksum.PseudoHeader(Host, Guest, IpProtocol.Tcp, tcp.Length), tcp)));
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(tcp.AsSpan(4));
        for (int off = header; off < tcp.Length; off += h.GsoSize)
        {
            int len = Math.Min(h.GsoSize, tcp.Length - off);
            var piece = new byte[EthIp + header + len];
            packet.AsSpan(0, EthIp + header).CopyTo(piece);
            BinaryPrimitives.WriteUInt32BigEndian(piece.AsSpan(EthIp + 4), seq + (uint)(off - header));
            tcp.AsSpan(off, len).CopyTo(piece.AsSpan(EthIp + header));
            pieces.Add(piece);
        }
        return pieces;
    }

    [Fact]
    public void A_read_with_a_plain_header_is_accepted_as_it_is()
    {
        var read = new byte[VirtioNetHeader.Length].Concat(new Seg(1, 100).Frame()).ToArray();
        var before = read.ToArray();
        Assert.Equal(DropReason.None, VirtioNetHeader.AcceptRead(read));
        Assert.Equal(before, read);
    }

    [Fact]
    public void A_read_whose_checksum_is_left_to_complete_is_completed()
    {
        var frame = new Seg(1, 100).Frame();
        var tcp = frame.AsSpan(EthIp);
        // As a sender with checksum offload leaves it: the pseudo-header sum, not complemented.
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~InternetChecksum.Fold(InternetChecksum.PseudoHeader(Host, Guest, IpProtocol.Tcp, tcp.Length)));
        var read = new byte[VirtioNetHeader.Length].Concat(frame).ToArray();
        read[0] = VirtioNetHeader.FlagNeedsChecksum;
        BinaryPrimitives.WriteUInt16LittleEndian(read.AsSpan(6), EthIp);
        BinaryPrimitives.WriteUInt16LittleEndian(read.AsSpan(8), 16);
        Assert.Equal(DropReason.None, VirtioNetHeader.AcceptRead(read));
        Assert.True(TcpSegment.TryCreate(read.AsSpan(VirtioNetHeader.Length + EthIp), Host, Guest, out _, out var reason), reason.ToString());
    }

    [Fact]
    public void A_read_the_tap_should_never_give_is_a_named_drop()
    {
        Assert.Equal(DropReason.TapHeaderTruncated, VirtioNetHeader.AcceptRead(new byte[9]));
        var gso = new byte[VirtioNetHeader.Length + 60];
        gso[1] = VirtioNetHeader.GsoTcpV4;
        Assert.Equal(DropReason.TapUnexpectedSegmentation, VirtioNetHeader.AcceptRead(gso));
        var outside = new byte[VirtioNetHeader.Length + 60];
        outside[0] = VirtioNetHeader.FlagNeedsChecksum;
        BinaryPrimitives.WriteUInt16LittleEndian(outside.AsSpan(6), 50);
        BinaryPrimitives.WriteUInt16LittleEndian(outside.AsSpan(8), 16);
        Assert.Equal(DropReason.TapChecksumOutOfFrame, VirtioNetHeader.AcceptRead(outside));
    }
}
