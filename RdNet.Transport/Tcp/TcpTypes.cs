using RdNet.Transport.Wire;

namespace RdNet.Transport.Tcp;

/// <summary>Connection states of RFC 9293 §3.3.2 (LISTEN is the NAT's flow table, not a connection).</summary>
public enum TcpState
{
    Closed,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// <summary>Why a connection ended other than by an orderly close.</summary>
public enum TcpError
{
    None,
    /// <summary>The peer reset the connection.</summary>
    Reset,
    /// <summary>The peer answered our SYN with RST.</summary>
    Refused,
    /// <summary>Retransmissions exhausted.</summary>
    TimedOut,
    /// <summary>This side aborted (RST sent).</summary>
    Aborted,
}

/// <summary>What <see cref="TcpConnection.Receive"/> made of a segment.</summary>
public enum TcpInputResult
{
    Accepted,
    /// <summary>Not accepted; the reason was counted (an ACK or RST may have been sent).</summary>
    Dropped,
    /// <summary>A SYN that may reuse this TIME-WAIT 4-tuple (RFC 6191): the connection is closed, the caller opens a new one with the SYN.</summary>
    ReopenFromTimeWait,
}

/// <summary>Limits and behaviour of one connection; times in milliseconds.</summary>
public sealed record TcpConfig
{
    /// <summary>The MSS we offer: the MTU minus 40 (IPv4 and TCP headers without options).</summary>
    public int Mss { get; init; } = 1460;
    /// <summary>Bytes from the application not yet acknowledged by the peer.</summary>
    public int SendBufferSize { get; init; } = 256 * 1024;
    /// <summary>Bytes received not yet read by the application; our advertised window is its free space.</summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;
    /// <summary>Disjoint out-of-order ranges held (and SACK scoreboard ranges tracked).</summary>
    public int MaxOutOfOrderRanges { get; init; } = 32;
    public long InitialRtoMs { get; init; } = 1000;
    public long MinRtoMs { get; init; } = 200;
    public long MaxRtoMs { get; init; } = 60_000;
    public int MaxRetransmissions { get; init; } = 12;
    public int MaxSynRetransmissions { get; init; } = 5;
    public long TimeWaitMs { get; init; } = 2_000;
    public int InitialCongestionWindowSegments { get; init; } = 10;
    public bool WindowScaling { get; init; } = true;
    public bool SackPermitted { get; init; } = true;
    public bool Timestamps { get; init; } = true;
    /// <summary>
    /// The offset of this connection's timestamp clock (RFC 7323 §5.4); null: one derived from the ISS. A stack that
    /// keeps one offset per address pair (as Linux does) makes every new incarnation of a 4-tuple carry newer
    /// timestamps than the last, which is what lets a peer in TIME-WAIT accept its SYN (RFC 6191).
    /// </summary>
    public uint? TimestampOffset { get; init; }

    /// <summary>
    /// Delayed acknowledgement (RFC 9293 §3.8.6.3, RFC 5681 §4.2) on an interactive connection — one where we sent data
    /// within this long of receiving some, as a server answering requests does: the ACK of a request waits up to this
    /// long to ride on the answer instead of going alone (one frame less per exchange for the guest to take). Never for
    /// two full-size segments or more, out-of-order data, a filled hole or a FIN; a timer that fires ends the
    /// interactive mode until data is sent promptly again (as Linux's pingpong mode). 0: every ACK at once.
    /// </summary>
    public long DelayedAckMs { get; init; }

    public static TcpConfig ForMtu(int mtu) => new() { Mss = mtu - 40 };
}

/// <summary>A segment as the connection sees it: header fields, decoded options, payload.</summary>
public readonly ref struct TcpSegmentIn
{
    public TcpSegmentIn(SeqNum seq, SeqNum ack, TcpFlags flags, ushort window, TcpOptions options, ReadOnlySpan<byte> payload,
        ushort urgentPointer = 0)
    {
        Seq = seq;
        Ack = ack;
        Flags = flags;
        Window = window;
        Options = options;
        Payload = payload;
        UrgentPointer = urgentPointer;
    }

    public SeqNum Seq { get; }
    public SeqNum Ack { get; }
    public TcpFlags Flags { get; }
    public ushort Window { get; }
    public TcpOptions Options { get; }
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The header's urgent pointer: an offset from <see cref="Seq"/>, meaningful only with URG.</summary>
    public ushort UrgentPointer { get; }

    public bool Has(TcpFlags f) => (Flags & f) != 0;

    /// <summary>Sequence space the segment occupies: payload plus one each for SYN and FIN.</summary>
    public int SequenceLength => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);

    public static TcpSegmentIn From(TcpSegment view) =>
        new(new SeqNum(view.SequenceNumber), new SeqNum(view.AcknowledgmentNumber), view.Flags, view.Window, view.Options, view.Payload,
            view.UrgentPointer);
}

/// <summary>A segment the connection emits; its payload is handed beside it as up to two spans.</summary>
public readonly record struct TcpSegmentOut(SeqNum Seq, SeqNum Ack, TcpFlags Flags, ushort Window, TcpOptions Options)
{
    /// <summary>
    /// The RST answering a segment that belongs to no connection (RFC 9293 §3.10.7.1): if it carried an ACK the
    /// reset takes its sequence number from it, otherwise it acknowledges the segment.
    /// </summary>
    public static TcpSegmentOut ResetFor(in TcpSegmentIn seg) =>
        seg.Has(TcpFlags.Ack)
            ? new TcpSegmentOut(seg.Ack, default, TcpFlags.Rst, 0, default)
            : new TcpSegmentOut(default, seg.Seq + seg.SequenceLength, TcpFlags.Rst | TcpFlags.Ack, 0, default);
}

/// <summary>Where a connection writes its segments. Returning false means "no room now": the connection keeps the data for later.</summary>
public interface ITcpOutput
{
    bool Send(in TcpSegmentOut segment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payload2);
}
