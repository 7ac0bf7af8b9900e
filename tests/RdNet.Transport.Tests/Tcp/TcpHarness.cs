using RdNet.Transport.Diagnostics;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Tcp;

/// <summary>A segment as captured from a connection's output (payload copied).</summary>
public sealed record Seg(SeqNum Seq, SeqNum Ack, TcpFlags Flags, ushort Window, TcpOptions Options, byte[] Payload)
{
    public bool Has(TcpFlags f) => (Flags & f) != 0;
    public TcpSegmentIn In => new(Seq, Ack, Flags, Window, Options, Payload);
    public override string ToString() => $"{Flags} seq={Seq} ack={Ack} win={Window} len={Payload.Length}";
}

/// <summary>Records every segment a connection emits; can refuse to take more (a full output).</summary>
public sealed class Recorder : ITcpOutput
{
    public List<Seg> Segments { get; } = [];
    public bool Full { get; set; }

    public bool Send(in TcpSegmentOut segment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payload2)
    {
        if (Full) return false;
        Segments.Add(new Seg(segment.Seq, segment.Ack, segment.Flags, segment.Window, segment.Options, [.. payload, .. payload2]));
        return true;
    }

    public List<Seg> Take()
    {
        var l = new List<Seg>(Segments);
        Segments.Clear();
        return l;
    }

    public Seg Single() => Assert.Single(Take());
}

public static class T
{
    public static readonly TcpOptions LinuxSyn = new(Mss: 1460, WindowScale: 7, SackPermitted: true, TsVal: 1000, TsEcr: 0);

    public static TcpSegmentIn Syn(uint seq, TcpOptions options, ushort window = 64240) =>
        new(new SeqNum(seq), default, TcpFlags.Syn, window, options, default);

    public static TcpSegmentIn Ack(SeqNum seq, SeqNum ack, ushort window, uint? tsVal = null, uint? tsEcr = null, byte[]? data = null, TcpFlags extra = 0, SackBlocks sack = default) =>
        new(seq, ack, TcpFlags.Ack | extra, window, new TcpOptions(null, null, false, tsVal, tsEcr, sack), data ?? []);

    public static byte[] Bytes(int n, int seed = 1)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>A passive connection driven through SYN / SYN-ACK / ACK; the peer (test) sent SYN at ISN <paramref name="peerIsn"/>.</summary>
    public static (TcpConnection C, Recorder Out, DropCounters Drops, SeqNum PeerNext, SeqNum OurNext) Established(
        TcpConfig? cfg = null, TcpOptions? synOptions = null, uint peerIsn = 5000, uint iss = 100_000, ushort peerWindow = 65535)
    {
        var drops = new DropCounters();
        var o = new Recorder();
        var c = TcpConnection.Listen(cfg ?? new TcpConfig(), drops, Syn(peerIsn, synOptions ?? new TcpOptions(1460, null, true, null, null), peerWindow), new SeqNum(iss), 0)!;
        c.Accept();
        c.Poll(0, o);
        var synAck = o.Single();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        var peerNext = new SeqNum(peerIsn + 1);
        var ourNext = new SeqNum(iss + 1);
        uint? ts = synOptions?.TsVal is uint tv ? tv + 1 : null;
        c.Receive(Ack(peerNext, ourNext, peerWindow, ts, synAck.Options.TsVal), 1, o);
        c.Poll(1, o);
        Assert.Equal(TcpState.Established, c.State);
        o.Take();
        return (c, o, drops, peerNext, ourNext);
    }
}

/// <summary>
/// Two connections joined by a simulated link that can lose, duplicate and reorder segments (seeded), driven on
/// an explicit clock. Each side writes a byte stream and shuts down; the test checks what each side read.
/// </summary>
public sealed class LinkSim
{
    private sealed record InFlight(long At, long Order, Seg Seg, bool ToB);

    private readonly Random _rng;
    private readonly List<InFlight> _wire = [];
    private long _order;
    public double Loss { get; init; }
    public double Duplicate { get; init; }
    public int MinDelay { get; init; } = 1;
    public int MaxDelay { get; init; } = 1;

    public TcpConnection A { get; }
    public DropCounters Drops { get; } = new();
    public long Now { get; private set; }
    public int Delivered { get; private set; }

    private readonly Side _outA, _outB;

    private sealed class Side(LinkSim sim, bool toB) : ITcpOutput
    {
        public bool Send(in TcpSegmentOut segment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payload2) =>
            sim.Put(new Seg(segment.Seq, segment.Ack, segment.Flags, segment.Window, segment.Options, [.. payload, .. payload2]), toB);
    }

    public LinkSim(int seed, TcpConfig cfgA, TcpConfig cfgB, uint issA, uint issB)
    {
        _rng = new Random(seed);
        _outA = new Side(this, toB: true);
        _outB = new Side(this, toB: false);
        A = TcpConnection.Connect(cfgA, Drops, new SeqNum(issA), 0);
        _issB = issB;
        _cfgB = cfgB;
    }

    private readonly uint _issB;
    private readonly TcpConfig _cfgB;
    private TcpConnection? _b;

    public TcpConnection? PassiveSide => _b;

    private bool Put(Seg s, bool toB)
    {
        if (_rng.NextDouble() < Loss) return true;
        int copies = _rng.NextDouble() < Duplicate ? 2 : 1;
        for (int i = 0; i < copies; i++)
            _wire.Add(new InFlight(Now + _rng.Next(MinDelay, MaxDelay + 1), _order++, s, toB));
        return true;
    }

    /// <summary>Runs until both sides wrote and shut down, read everything and closed, or the time limit.</summary>
    public (byte[] ReadByA, byte[] ReadByB) Run(byte[] aSends, byte[] bSends, long limitMs = 600_000)
    {
        var readA = new MemoryStream();
        var readB = new MemoryStream();
        int sentA = 0, sentB = 0;
        var buf = new byte[65536];
        A.Poll(Now, _outA);
        while (Now < limitMs)
        {
            // Deliver everything due now, in (time, order) order.
            _wire.Sort((x, y) => x.At != y.At ? x.At.CompareTo(y.At) : x.Order.CompareTo(y.Order));
            while (_wire.Count > 0 && _wire[0].At <= Now)
            {
                var f = _wire[0];
                _wire.RemoveAt(0);
                Delivered++;
                if (f.ToB)
                {
                    if (_b is null)
                    {
                        if (!f.Seg.Has(TcpFlags.Syn)) continue;
                        _b = TcpConnection.Listen(_cfgB, Drops, f.Seg.In, new SeqNum(_issB), Now);
                        _b?.Accept();
                        continue;
                    }
                    _b.Receive(f.Seg.In, Now, _outB);
                }
                else
                {
                    A.Receive(f.Seg.In, Now, _outA);
                }
            }
            // Applications: fill send rings, drain receive rings, shut down when all written.
            Pump(A, aSends, ref sentA, readA, buf);
            if (_b is not null) Pump(_b, bSends, ref sentB, readB, buf);
            A.Poll(Now, _outA);
            _b?.Poll(Now, _outB);

            bool done = A.IsClosed && _b is not null && _b.IsClosed;
            if (done) break;
            long next = Now + 1;
            if (_wire.Count == 0)
            {
                long d = Math.Min(A.NextDeadline, _b?.NextDeadline ?? TcpConnection.Never);
                if (d == TcpConnection.Never) break; // stuck: nothing in flight, no timer
                next = Math.Max(next, d);
            }
            Now = next;
        }
        return (readA.ToArray(), readB.ToArray());
    }

    private static void Pump(TcpConnection c, byte[] src, ref int sent, MemoryStream read, byte[] buf)
    {
        if (c.IsEstablished || c.State == TcpState.CloseWait)
        {
            if (sent < src.Length) sent += c.Write(src.AsSpan(sent, Math.Min(src.Length - sent, 7000)));
            if (sent == src.Length && !c.SendShutdown) c.ShutdownSend();
        }
        int n;
        while ((n = c.Read(buf)) > 0) read.Write(buf, 0, n);
    }
}
