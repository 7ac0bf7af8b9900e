using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tcp;

/// <summary>
/// One TCP connection (RFC 9293), sans-IO. Segments go in through <see cref="Receive"/> with the current time (in
/// milliseconds of a monotonic clock); segments come out through an <see cref="ITcpOutput"/>; <see cref="Poll"/>
/// sends what is due (data within the peer's and the congestion window, ACKs, window updates, retransmissions and
/// probes whose timers expired) and <see cref="NextDeadline"/> says when to call it again. Call <see cref="Poll"/>
/// after every batch of <see cref="Receive"/> calls and after the application changed a buffer: in-order data is
/// acknowledged there once per batch.
/// <para>
/// The application side is two bounded rings: the caller fills the send ring (<see cref="SendWritable"/> +
/// <see cref="CommitSend"/>, or <see cref="Write"/>) and drains the receive ring (<see cref="Received"/> +
/// <see cref="ConsumeReceived"/>). Our advertised window is the receive ring's free space, so a slow reader slows the
/// peer instead of growing memory. Out-of-order data is stored in the receive ring at its offset (it always lies
/// inside the window), tracked by a bounded range set.
/// </para>
/// Negotiated: MSS, window scaling and timestamps (RFC 7323), SACK-permitted (RFC 2018). Loss recovery: RTO per
/// RFC 6298 with exponential backoff, fast retransmit on three duplicate ACKs with NewReno (RFC 6582), holes
/// retransmitted from the SACK scoreboard during recovery, slow start and congestion avoidance (RFC 5681). RST, SYN
/// and ACK acceptance follow RFC 5961; PAWS and TIME-WAIT reuse follow RFC 7323 and RFC 6191.
/// </summary>
public sealed class TcpConnection : IDisposable
{
    public const long Never = long.MaxValue;
    private const int DefaultPeerMss = 536; // RFC 9293 §3.7.1
    private const int MaxWindowScale = 14;
    private const int TimestampOptionLength = 12;

    private readonly TcpConfig _cfg;
    private readonly DropCounters _drops;
    private readonly ByteRing _send;
    private readonly ByteRing _recv;
    private readonly SeqRanges _ooo;
    private readonly SeqRanges _sacked;
    private readonly uint _tsOffset;

    // Send sequence space (RFC 9293 §3.3.1); _sndMax is the highest sequence number sent plus one.
    private readonly SeqNum _iss;
    private SeqNum _sndUna, _sndNxt, _sndMax, _sndWl1, _sndWl2, _sendStart;
    private long _sndWnd, _maxSndWnd;
    private int _sndScale, _rcvScale;
    private int _peerMss = DefaultPeerMss;
    private bool _synAcked, _finQueued, _finSent, _finAcked;

    // Receive sequence space.
    private SeqNum _irs, _rcvNxt, _rcvAdvRight, _lastOooLeft;
    private SeqNum? _oooFin;
    private bool _finReceived;
    private uint _tsRecent;

    private bool _wsOk, _sackOk, _tsOk;
    private bool _accepted, _synAckPending, _synPending, _ackNow, _ackPending;

    // Timers and RTT estimation (RFC 6298).
    private long _now;
    private long _rtoDeadline = Never, _persistDeadline = Never, _timeWaitDeadline = Never, _delayedAckDeadline = Never;
    private long _rto, _srtt = -1, _rttvar, _persistInterval;
    private int _retries;
    private bool _rttTiming;
    private SeqNum _rttSeq;
    private long _rttStart;

    // Delayed ACK: when in-order data last arrived, the receive point our last ACK carried, and whether the
    // connection is interactive (we answered data promptly).
    private long _lastDataReceivedAt = -1;
    private SeqNum _rcvAcked;
    private bool _interactive;

    // The right edge we advertised was set by our SYN-ACK (whose window is never scaled, so at most 64 KiB).
    private bool _edgeFromSyn;

    // Congestion control (RFC 5681, RFC 6582).
    private long _cwnd, _ssthresh = long.MaxValue, _caCredit;
    private int _dupAcks;
    private bool _inRecovery;
    private SeqNum _recover, _highRxt;

    private TcpConnection(TcpConfig cfg, DropCounters drops, SeqNum iss, long now)
    {
        _cfg = cfg;
        _drops = drops;
        _send = new ByteRing(cfg.SendBufferSize);
        _recv = new ByteRing(cfg.ReceiveBufferSize);
        _ooo = new SeqRanges(cfg.MaxOutOfOrderRanges);
        _sacked = new SeqRanges(cfg.MaxOutOfOrderRanges);
        _iss = iss;
        _sndUna = iss;
        _sndNxt = iss;
        _sndMax = iss;
        _sendStart = iss + 1;
        _rto = cfg.InitialRtoMs;
        _now = now;
        _tsOffset = cfg.TimestampOffset ?? iss.Value * 2654435761u; // an unpredictable clock offset (RFC 7323 §5.4)
        while (_rcvScale < MaxWindowScale && (cfg.ReceiveBufferSize >> _rcvScale) > ushort.MaxValue) _rcvScale++;
    }

    /// <summary>
    /// A passive open from a peer's SYN (state SYN-RECEIVED). Nothing is sent until <see cref="Accept"/>: the NAT first
    /// connects the host socket, then answers SYN-ACK. Returns null (reason counted) if the segment cannot open a connection.
    /// </summary>
    public static TcpConnection? Listen(TcpConfig cfg, DropCounters drops, in TcpSegmentIn syn, SeqNum iss, long now)
    {
        if (!syn.Has(TcpFlags.Syn) || syn.Has(TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Fin))
        {
            drops.Increment(DropReason.TcpBadSyn);
            return null;
        }
        var c = new TcpConnection(cfg, drops, iss, now) { State = TcpState.SynReceived };
        c.TakePeerSyn(syn);
        c._sndWnd = syn.Window; // never scaled in a SYN (RFC 7323 §2.2)
        c._maxSndWnd = c._sndWnd;
        c._sndWl1 = syn.Seq;
        c._sndWl2 = iss;
        return c;
    }

    /// <summary>An active open (state SYN-SENT); the SYN goes out on the next <see cref="Poll"/>.</summary>
    public static TcpConnection Connect(TcpConfig cfg, DropCounters drops, SeqNum iss, long now) =>
        new(cfg, drops, iss, now) { State = TcpState.SynSent, _synPending = true };

    public TcpState State { get; private set; }
    public TcpError Error { get; private set; }

    /// <summary>The connection is over (closed, reset, timed out); TIME-WAIT is not closed yet.</summary>
    public bool IsClosed => State == TcpState.Closed;

    /// <summary>Handshake done in both directions.</summary>
    public bool IsEstablished => _synAcked && State is not (TcpState.Closed or TcpState.SynSent or TcpState.SynReceived);

    /// <summary>The peer's FIN was received: after <see cref="Received"/> is drained, the application sees end of stream.</summary>
    public bool PeerFinished => _finReceived;

    /// <summary>Our FIN was acknowledged.</summary>
    public bool SendFinished => _finAcked;

    public bool SendShutdown => _finQueued;

    public bool Negotiated(out bool windowScaling, out bool sack, out bool timestamps)
    {
        windowScaling = _wsOk;
        sack = _sackOk;
        timestamps = _tsOk;
        return _synAcked;
    }

    /// <summary>Largest payload per segment we send.</summary>
    public int SendMss => Math.Max(1, Math.Min(_peerMss, _cfg.Mss) - (_tsOk ? TimestampOptionLength : 0));

    public int PeerWindowScale => _sndScale;
    public int WindowScale => _rcvScale;
    public long CongestionWindow => _cwnd;
    public long SlowStartThreshold => _ssthresh;
    public long RetransmissionTimeoutMs => _rto;
    public long SmoothedRttMs => _srtt;
    public long PeerWindow => _sndWnd;
    public SeqNum SendUnacknowledged => _sndUna;
    public SeqNum SendNext => _sndNxt;
    public SeqNum ReceiveNext => _rcvNxt;
    public bool InRecovery => _inRecovery;
    public long BytesInFlight => _sndMax - _sndUna;
    public int OutOfOrderRanges => _ooo.Count;

    // ---- application side ----

    /// <summary>Free room in the send ring.</summary>
    public int SendFree => _finQueued ? 0 : _send.Free;

    /// <summary>Bytes written and not yet acknowledged.</summary>
    public int SendBuffered => _send.Count;

    /// <summary>A contiguous free run of the send ring to read into; then <see cref="CommitSend"/>.</summary>
    public Memory<byte> SendWritable => _finQueued ? Memory<byte>.Empty : _send.Writable;

    public void CommitSend(int n)
    {
        if (_finQueued && n > 0) throw new InvalidOperationException("send side already shut down");
        _send.Commit(n);
    }

    public int Write(ReadOnlySpan<byte> data) => _finQueued ? 0 : _send.Write(data);

    /// <summary>Sends FIN after the buffered data (shutdown(SHUT_WR)); the receive side stays open.</summary>
    public void ShutdownSend()
    {
        if (_finQueued) return;
        _finQueued = true;
        switch (State)
        {
            case TcpState.Established: State = TcpState.FinWait1; break;
            case TcpState.CloseWait: State = TcpState.LastAck; break;
            case TcpState.SynSent: EnterClosed(); break;
        }
    }

    /// <summary>In-order received bytes (a contiguous run; more may follow after consuming).</summary>
    public ReadOnlyMemory<byte> Received => _recv.Readable;

    public int ReceivedCount => _recv.Count;

    public void ConsumeReceived(int n) => _recv.Consume(n);

    /// <summary>Copies received bytes out (tests, small readers).</summary>
    public int Read(Span<byte> destination) => _recv.Read(destination);

    /// <summary>A passive connection's host side is ready: answer the SYN with SYN-ACK on the next <see cref="Poll"/>.</summary>
    public void Accept()
    {
        if (State != TcpState.SynReceived || _accepted) return;
        _accepted = true;
        _synAckPending = true;
    }

    /// <summary>Resets the connection: RST to the peer if it knows us, then closed.</summary>
    public void Abort(ITcpOutput output)
    {
        if (State == TcpState.Closed) return;
        if (State != TcpState.SynSent && (State != TcpState.SynReceived || _accepted) && State != TcpState.TimeWait)
            output.Send(new TcpSegmentOut(_sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, default), default, default);
        else if (State == TcpState.SynReceived)
            output.Send(new TcpSegmentOut(default, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, default), default, default);
        Error = TcpError.Aborted;
        EnterClosed();
    }

    /// <summary>
    /// Gives an empty send ring's storage back to the pool (the caller has no read in progress into it); it is rented
    /// again when data comes. An idle connection then holds no buffer.
    /// </summary>
    public void ReleaseIdleSendBuffer() => _send.ReleaseIfEmpty();

    /// <summary>Same for the receive ring, when nothing is unread and no out-of-order data is held.</summary>
    public void ReleaseIdleReceiveBuffer()
    {
        if (_ooo.Count == 0) _recv.ReleaseIfEmpty();
    }

    /// <summary>Whether the rings currently hold pooled storage (send, receive).</summary>
    public (bool Send, bool Receive) BuffersHeld => (_send.HasStorage, _recv.HasStorage);

    /// <summary>Returns the rings to their pool. Call once the connection and any I/O on its buffers are finished.</summary>
    public void Dispose()
    {
        _send.Release();
        _recv.Release();
    }

    /// <summary>The earliest time <see cref="Poll"/> has timer work, or <see cref="Never"/>.</summary>
    public long NextDeadline => Math.Min(Math.Min(_rtoDeadline, _delayedAckDeadline), Math.Min(_persistDeadline, _timeWaitDeadline));

    // ---- input ----

    public TcpInputResult Receive(in TcpSegmentIn seg, long now, ITcpOutput output)
    {
        _now = now;
        switch (State)
        {
            case TcpState.Closed:
                return Drop(DropReason.TcpSegmentAfterClose);
            case TcpState.SynSent:
                return ReceiveInSynSent(seg, output);
            case TcpState.SynReceived when !_accepted:
                if (seg.Has(TcpFlags.Rst) && seg.Seq == _rcvNxt)
                {
                    Error = TcpError.Reset;
                    EnterClosed();
                    return TcpInputResult.Accepted;
                }
                return Drop(DropReason.TcpNotYetAccepted);
        }

        if (State == TcpState.SynReceived && seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Ack | TcpFlags.Rst) && seg.Seq == _irs)
        {
            _synAckPending = true; // the peer missed our SYN-ACK
            return TcpInputResult.Accepted;
        }

        if (State == TcpState.TimeWait && seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Ack | TcpFlags.Rst))
        {
            // RFC 6191: a newer timestamp, or a higher initial sequence number, proves the SYN belongs to a new
            // incarnation unless PAWS rejects its timestamp as older; Linux's tcp_timewait_state_process decides the
            // same way. gvproxy's drop of every such SYN is what collapsed its connect rate.
            bool tsSeen = _tsOk && seg.Options.TsVal.HasValue;
            int tsDelta = tsSeen ? unchecked((int)(seg.Options.TsVal!.Value - _tsRecent)) : 0;
            bool newer = !(tsSeen && tsDelta < 0) && (seg.Seq > _rcvNxt || (tsSeen && tsDelta > 0));
            if (newer)
            {
                EnterClosed();
                return TcpInputResult.ReopenFromTimeWait;
            }
            SendAck(output);
            return Drop(DropReason.TcpTimeWaitSynRejected);
        }

        // PAWS (RFC 7323 §5.3): an older timestamp marks an old duplicate.
        if (_tsOk && !seg.Has(TcpFlags.Rst) && seg.Options.TsVal is uint tsv && unchecked((int)(tsv - _tsRecent)) < 0)
        {
            SendAck(output);
            return Drop(DropReason.TcpPawsRejected);
        }

        int segLen = seg.SequenceLength;
        int rcvWnd = ReceiveRoom;
        bool acceptable = segLen == 0
            ? rcvWnd == 0 ? seg.Seq == _rcvNxt : seg.Seq.InRange(_rcvNxt, _rcvNxt + rcvWnd)
            : rcvWnd > 0 && (seg.Seq.InRange(_rcvNxt, _rcvNxt + rcvWnd) || (seg.Seq + (segLen - 1)).InRange(_rcvNxt, _rcvNxt + rcvWnd));
        bool ackOnly = false;
        if (!acceptable)
        {
            // RFC 9293 §3.10.7.4: with a zero window, still take valid ACKs (and RSTs) from the segment.
            if (rcvWnd == 0 && seg.Seq == _rcvNxt && seg.Has(TcpFlags.Ack) && !seg.Has(TcpFlags.Rst))
            {
                ackOnly = true;
                _drops.Increment(DropReason.TcpZeroWindowProbe);
                _ackNow = true;
            }
            else
            {
                if (seg.Has(TcpFlags.Rst)) return Drop(DropReason.TcpRstOutOfWindow);
                if (State == TcpState.TimeWait && seg.Has(TcpFlags.Fin)) _timeWaitDeadline = now + _cfg.TimeWaitMs;
                SendAck(output);
                return Drop(rcvWnd == 0 && segLen > 0 ? DropReason.TcpZeroWindowProbe : DropReason.TcpOutsideWindow);
            }
        }

        if (seg.Has(TcpFlags.Rst))
        {
            // RFC 5961 §3.2: only an exact match resets; anything else in the window gets a challenge ACK.
            if (seg.Seq == _rcvNxt)
            {
                Error = TcpError.Reset;
                EnterClosed();
                return TcpInputResult.Accepted;
            }
            SendAck(output);
            return Drop(DropReason.TcpRstChallenged);
        }

        if (seg.Has(TcpFlags.Syn))
        {
            SendAck(output); // RFC 5961 §4
            return Drop(DropReason.TcpSynChallenged);
        }

        if (!seg.Has(TcpFlags.Ack)) return Drop(DropReason.TcpNoAck);

        UpdateTsRecent(seg);

        if (State == TcpState.SynReceived)
        {
            if (!(seg.Ack > _sndUna && seg.Ack <= _sndMax))
            {
                output.Send(new TcpSegmentOut(seg.Ack, default, TcpFlags.Rst, 0, default), default, default);
                return Drop(DropReason.TcpBadHandshakeAck);
            }
            CompleteHandshake(seg);
        }
        else
        {
            // RFC 5961 §5.2: ACK must lie in [SND.UNA − MAX.SND.WND, SND.MAX].
            if (seg.Ack > _sndMax)
            {
                SendAck(output);
                return Drop(DropReason.TcpAckOfUnsentData);
            }
            if (seg.Ack < _sndUna - (int)Math.Min(_maxSndWnd, int.MaxValue / 2))
            {
                SendAck(output);
                return Drop(DropReason.TcpAckTooOld);
            }
            ProcessAck(seg, output);
            if (State == TcpState.Closed) return TcpInputResult.Accepted;
        }

        if (ackOnly)
        {
            SendAck(output);
            return TcpInputResult.Accepted;
        }

        ProcessData(seg, output);
        return TcpInputResult.Accepted;
    }

    private TcpInputResult ReceiveInSynSent(in TcpSegmentIn seg, ITcpOutput output)
    {
        bool hasAck = seg.Has(TcpFlags.Ack);
        if (hasAck && (seg.Ack <= _iss || seg.Ack > _sndMax))
        {
            if (!seg.Has(TcpFlags.Rst))
                output.Send(new TcpSegmentOut(seg.Ack, default, TcpFlags.Rst, 0, default), default, default);
            return Drop(DropReason.TcpBadHandshakeAck);
        }
        if (seg.Has(TcpFlags.Rst))
        {
            if (!hasAck) return Drop(DropReason.TcpRstOutOfWindow);
            Error = TcpError.Refused;
            EnterClosed();
            return TcpInputResult.Accepted;
        }
        if (!seg.Has(TcpFlags.Syn)) return Drop(DropReason.TcpBadSyn);
        TakePeerSyn(seg);
        if (hasAck)
        {
            if (_tsOk && seg.Options.TsEcr is uint ecr && ecr != 0) SampleRtt(unchecked((int)(TsNow - ecr)));
            CompleteHandshake(seg);
            _sndWnd = seg.Window; // unscaled in a SYN
            _maxSndWnd = _sndWnd;
            _ackNow = true;
        }
        else
        {
            // Simultaneous open (RFC 9293 §3.5): answer with SYN-ACK from the same ISS.
            State = TcpState.SynReceived;
            _accepted = true;
            _synAckPending = true;
            _sndNxt = _iss;
        }
        return TcpInputResult.Accepted;
    }

    private void TakePeerSyn(in TcpSegmentIn syn)
    {
        _irs = syn.Seq;
        _rcvNxt = syn.Seq + 1;
        _rcvAdvRight = _rcvNxt;
        _rcvAcked = _rcvNxt;
        var o = syn.Options;
        _peerMss = o.Mss is ushort m && m >= 64 ? m : DefaultPeerMss;
        _wsOk = _cfg.WindowScaling && o.WindowScale.HasValue;
        _sndScale = _wsOk ? Math.Min((int)o.WindowScale!.Value, MaxWindowScale) : 0;
        if (!_wsOk) _rcvScale = 0;
        _sackOk = _cfg.SackPermitted && o.SackPermitted;
        _tsOk = _cfg.Timestamps && o.TsVal.HasValue;
        if (_tsOk) _tsRecent = o.TsVal!.Value;
    }

    private void CompleteHandshake(in TcpSegmentIn seg)
    {
        _synAcked = true;
        _sndUna = seg.Ack;
        if (_sndNxt < _sndUna) _sndNxt = _sndUna;
        _sndWl1 = seg.Seq;
        _sndWl2 = seg.Ack;
        if (State == TcpState.SynReceived)
        {
            _sndWnd = (long)seg.Window << _sndScale;
            _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
            if (_tsOk && seg.Options.TsEcr is uint ecr && ecr != 0) SampleRtt(unchecked((int)(TsNow - ecr)));
        }
        _retries = 0;
        _rtoDeadline = Never;
        _cwnd = (long)_cfg.InitialCongestionWindowSegments * SendMss;
        State = _finQueued ? TcpState.FinWait1 : TcpState.Established;
    }

    private void UpdateTsRecent(in TcpSegmentIn seg)
    {
        // RFC 7323 §4.3: remember the timestamp of a segment at or before the left window edge.
        if (_tsOk && seg.Options.TsVal is uint tv && seg.Seq <= _rcvNxt && unchecked((int)(tv - _tsRecent)) >= 0)
            _tsRecent = tv;
    }

    private void ProcessAck(in TcpSegmentIn seg, ITcpOutput output)
    {
        int acked = seg.Ack - _sndUna;
        long newWindow = (long)seg.Window << _sndScale;
        if (acked >= 0 && _sackOk) TakeSackBlocks(seg.Options.Sack);
        if (acked > 0)
        {
            if (_tsOk && seg.Options.TsEcr is uint ecr && ecr != 0) SampleRtt(unchecked((int)(TsNow - ecr)));
            else if (_rttTiming && seg.Ack > _rttSeq) SampleRtt(_now - _rttStart);
            if (_rttTiming && seg.Ack > _rttSeq) _rttTiming = false;

            int data = Math.Min(seg.Ack - _sendStart, _send.Count);
            if (data > 0)
            {
                _send.Consume(data);
                _sendStart += data;
            }
            if (_finSent && seg.Ack == _sendStart + 1 && _send.Count == 0) _finAcked = true;
            _sndUna = seg.Ack;
            if (_sndNxt < _sndUna) _sndNxt = _sndUna;
            _sacked.TrimBelow(_sndUna);
            _retries = 0;
            _persistDeadline = Never;
            OnNewAck(seg.Ack, acked, output);
            _rtoDeadline = _sndMax > _sndUna ? _now + _rto : Never;
        }
        else if (acked == 0 && seg.Payload.Length == 0 && !seg.Has(TcpFlags.Fin) && newWindow == _sndWnd && _sndMax > _sndUna)
        {
            OnDuplicateAck(output);
        }

        if (_sndWl1 < seg.Seq || (_sndWl1 == seg.Seq && _sndWl2 <= seg.Ack))
        {
            _sndWnd = newWindow;
            _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
            _sndWl1 = seg.Seq;
            _sndWl2 = seg.Ack;
            if (_sndWnd > 0) _persistDeadline = Never;
        }

        if (_finAcked)
        {
            switch (State)
            {
                case TcpState.FinWait1: State = TcpState.FinWait2; break;
                case TcpState.Closing: EnterTimeWait(); break;
                case TcpState.LastAck: EnterClosed(); break;
            }
        }
    }

    private void TakeSackBlocks(in SackBlocks blocks)
    {
        for (int i = 0; i < blocks.Count; i++)
        {
            var l = new SeqNum(blocks[i].Left);
            var r = new SeqNum(blocks[i].Right);
            // Blocks outside [SND.UNA, SND.MAX] are ignored (RFC 2018 abuse guard).
            if (l >= r || l < _sndUna || r > _sndMax) continue;
            _sacked.Add(l, r);
        }
    }

    private void OnNewAck(SeqNum ack, int acked, ITcpOutput output)
    {
        if (_inRecovery)
        {
            if (ack >= _recover)
            {
                _inRecovery = false;
                _cwnd = Math.Min(_ssthresh, Math.Max(_sndMax - _sndUna, 0) + SendMss);
                _dupAcks = 0;
            }
            else
            {
                // Partial ACK (RFC 6582 §3.2): the next hole is lost too; retransmit it at once.
                if (_highRxt < _sndUna) _highRxt = _sndUna;
                RetransmitHole(output, partialAck: true);
                _cwnd = Math.Max(_cwnd - acked + SendMss, SendMss);
            }
            return;
        }
        _dupAcks = 0;
        if (_cwnd < _ssthresh)
        {
            _cwnd += acked; // slow start, counting bytes (RFC 3465)
        }
        else
        {
            _caCredit += acked;
            if (_caCredit >= _cwnd)
            {
                _caCredit -= _cwnd;
                _cwnd += SendMss;
            }
        }
        _cwnd = Math.Min(_cwnd, (long)_cfg.SendBufferSize * 4);
    }

    private void OnDuplicateAck(ITcpOutput output)
    {
        _dupAcks++;
        if (_inRecovery)
        {
            _cwnd += SendMss;
            if (_sackOk) RetransmitHole(output, partialAck: false);
            return;
        }
        bool enough = _dupAcks >= 3 || (_sackOk && _sacked.Bytes >= 3L * SendMss);
        if (!enough) return;
        // RFC 6582 §3.2 step 2: a new recovery only once the cumulative ACK is past the previous recovery point.
        if (_recoverValid && _sndUna <= _recover) return;
        _inRecovery = true;
        _recoverValid = true;
        _recover = _sndMax;
        long flight = _sndMax - _sndUna;
        _ssthresh = Math.Max(flight / 2, 2L * SendMss);
        _cwnd = _ssthresh + 3L * SendMss;
        _highRxt = _sndUna;
        RetransmitHole(output, partialAck: true);
    }

    private bool _recoverValid;

    /// <summary>
    /// Retransmits one MSS from the first byte at or after the retransmission point that the peer has not SACKed
    /// (with <paramref name="partialAck"/>, from SND.UNA even without SACK information).
    /// </summary>
    private void RetransmitHole(ITcpOutput output, bool partialAck)
    {
        var start = SeqNum.Max(_highRxt, _sndUna);
        int idx;
        while ((idx = _sacked.IndexOf(start)) >= 0) start = _sacked.Right(idx);
        if (!partialAck && start >= _sacked.HighestRight(_sndUna)) return; // no hole below the highest SACK
        if (start >= _sndMax) return;
        int len = Math.Min(SendMss, _sndMax - start);
        for (int i = 0; i < _sacked.Count; i++)
        {
            if (_sacked.Left(i) > start)
            {
                len = Math.Min(len, _sacked.Left(i) - start);
                break;
            }
        }
        if (EmitData(start, len, output, retransmission: true)) _highRxt = start + Math.Max(len, 1);
    }

    private void ProcessData(in TcpSegmentIn seg, ITcpOutput output)
    {
        var data = seg.Payload;
        var start = seg.Seq;
        bool fin = seg.Has(TcpFlags.Fin);
        bool receiving = State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2;
        if (!receiving)
        {
            // After the peer's FIN nothing more may arrive (RFC 9293 §3.10.7.4, eighth step).
            if (data.Length > 0 && start + data.Length > _rcvNxt) _drops.Increment(DropReason.TcpSegmentAfterClose);
            if (fin && _finReceived)
            {
                _ackNow = true;
                if (State == TcpState.TimeWait) _timeWaitDeadline = _now + _cfg.TimeWaitMs;
            }
            return;
        }

        if (seg.Has(TcpFlags.Urg)) CheckUrgentPointer(seg);

        if (data.Length > 0)
        {
            if (start < _rcvNxt)
            {
                int skip = _rcvNxt - start;
                if (skip >= data.Length)
                {
                    data = default;
                    _ackNow = true; // a duplicate: tell the peer where we are
                }
                else
                {
                    data = data[skip..];
                }
                start = _rcvNxt;
            }
            int offset = start - _rcvNxt;
            int room = ReceiveRoom - offset;
            if (data.Length > room)
            {
                data = data[..Math.Max(room, 0)];
                fin = false;
                _drops.Increment(DropReason.TcpDataBeyondWindow);
            }
            if (data.Length > 0)
            {
                if (offset == 0)
                {
                    _recv.WriteAt(_recv.Count, data);
                    _recv.Commit(data.Length);
                    _rcvNxt += data.Length;
                    bool filled = false;
                    if (_ooo.Count > 0 && _ooo.Left(0) <= _rcvNxt)
                    {
                        int extra = _ooo.Right(0) - _rcvNxt;
                        if (extra > 0)
                        {
                            _recv.Commit(extra);
                            _rcvNxt += extra;
                        }
                        filled = true;
                    }
                    _ooo.TrimBelow(_rcvNxt);
                    if (filled || _ooo.Count > 0) _ackNow = true; // RFC 5681 §4.2: ACK at once when a hole fills
                    else _ackPending = true;
                    _lastDataReceivedAt = _now;
                }
                else
                {
                    if (!_ooo.Add(start, start + data.Length))
                    {
                        _drops.Increment(DropReason.TcpOutOfOrderQueueFull);
                        fin = false;
                    }
                    else
                    {
                        _recv.WriteAt(_recv.Count + offset, data);
                        _lastOooLeft = start;
                    }
                    SendAck(output); // duplicate ACK (with SACK) for every out-of-order segment
                }
            }
        }

        if (fin)
        {
            var finSeq = seg.Seq + seg.Payload.Length;
            if (finSeq == _rcvNxt) TakeFin();
            else if (finSeq > _rcvNxt) _oooFin = finSeq;
        }
        if (_oooFin is SeqNum f && f == _rcvNxt && _ooo.Count == 0) TakeFin();
    }

    /// <summary>
    /// RFC 9293 §3.8.5 (which took in RFC 6093): the urgent pointer is the offset of the byte after the urgent data,
    /// and urgent data stays part of the byte stream. This connection hands the stream to a host socket in line
    /// (RFC 6093 §6: SO_OOBINLINE semantics; re-sending a byte with MSG_OOB would pull it out of the stream of a host
    /// reader that does not read out-of-band data), so the URG mark never changes what is delivered or acknowledged,
    /// whatever its pointer says. A mark that names no byte of this segment is counted: a zero pointer names no urgent
    /// data at all, and one past the data points at bytes not here (legitimate when urgent data spans segments, as
    /// Linux sends it, and the usual shape of a crafted pointer). Dropping such a segment would stall the connection,
    /// since its sender retransmits it unchanged.
    /// </summary>
    private void CheckUrgentPointer(in TcpSegmentIn seg)
    {
        if (seg.UrgentPointer == 0) _drops.Increment(DropReason.TcpUrgentPointerZero);
        else if (seg.UrgentPointer > seg.Payload.Length) _drops.Increment(DropReason.TcpUrgentPointerPastData);
    }

    private void TakeFin()
    {
        _oooFin = null;
        if (_finReceived) return;
        _finReceived = true;
        _rcvNxt += 1;
        _ackNow = true;
        switch (State)
        {
            case TcpState.Established: State = TcpState.CloseWait; break;
            case TcpState.FinWait1: if (_finAcked) EnterTimeWait(); else State = TcpState.Closing; break;
            case TcpState.FinWait2: EnterTimeWait(); break;
        }
    }

    // ---- output ----

    /// <summary>Runs expired timers and sends whatever is due.</summary>
    public void Poll(long now, ITcpOutput output)
    {
        _now = now;
        if (now >= _timeWaitDeadline)
        {
            EnterClosed();
            return;
        }
        if (now >= _rtoDeadline) OnRetransmissionTimeout(output);
        if (State == TcpState.Closed) return;
        if (now >= _persistDeadline) SendWindowProbe(output);
        if (now >= _delayedAckDeadline)
        {
            // No answer came in time: ACK now, and ACK at once from here until the connection answers promptly again.
            _delayedAckDeadline = Never;
            _interactive = false;
            if (_ackPending) _ackNow = true;
        }

        if (_synPending && State == TcpState.SynSent)
        {
            if (SendSyn(output, TcpFlags.Syn)) _synPending = false;
            return;
        }
        if (_synAckPending && State == TcpState.SynReceived)
        {
            if (SendSyn(output, TcpFlags.Syn | TcpFlags.Ack)) _synAckPending = false;
            return;
        }
        if (State is TcpState.SynReceived or TcpState.SynSent) return;

        if (_synAcked && State != TcpState.TimeWait) SendData(output);

        // Window update: the reader freed enough room to matter (receiver SWS avoidance, RFC 9293 §3.8.6.2.2).
        var right = _rcvNxt + AdvertisedWindowBytes();
        int grown = right - _rcvAdvRight;
        // Not for the growth from the SYN-ACK's unscaled window to the full one: the peer has 64 KiB to send into
        // and our next ACK carries the full window anyway (a pure window update there is one frame more per connection).
        if (!_finReceived && !_edgeFromSyn && grown >= Math.Min(_recv.Capacity / 2, 2 * _cfg.Mss)) _ackNow = true;
        if (_ackNow || (_ackPending && !DelayAck())) SendAck(output);
    }

    /// <summary>True when the pending ACK may wait for data to ride on (see <see cref="TcpConfig.DelayedAckMs"/>); arms its timer.</summary>
    private bool DelayAck()
    {
        if (_cfg.DelayedAckMs <= 0 || !_interactive || _finReceived || _ooo.Count > 0) return false;
        if (_rcvNxt - _rcvAcked >= 2 * _cfg.Mss) return false; // RFC 5681 §4.2: at least every second full-size segment
        if (_delayedAckDeadline == Never) _delayedAckDeadline = _now + _cfg.DelayedAckMs;
        return true;
    }

    private void SendData(ITcpOutput output)
    {
        while (true)
        {
            int offset = _sndNxt - _sendStart;
            int avail = _send.Count - offset;
            bool finDue = _finQueued && offset <= _send.Count;
            if (avail <= 0 && !finDue) break;
            if (avail > 0)
            {
                int idx = _sacked.IndexOf(_sndNxt);
                if (idx >= 0)
                {
                    _sndNxt = SeqNum.Min(_sacked.Right(idx), _sendStart + _send.Count);
                    continue;
                }
            }
            long window = Math.Min(_sndWnd, _cwnd);
            long usable = window - (_sndNxt - _sndUna);
            int len = (int)Math.Max(0, Math.Min(Math.Min(avail, SendMss), usable));
            if (_sndNxt < _sndMax)
            {
                // Resending after a timeout: stop at data the peer already SACKed.
                for (int i = 0; i < _sacked.Count; i++)
                {
                    if (_sacked.Left(i) > _sndNxt)
                    {
                        len = Math.Min(len, _sacked.Left(i) - _sndNxt);
                        break;
                    }
                }
            }
            if (avail > 0 && len < avail && len < SendMss && len < _maxSndWnd / 2) len = 0; // sender SWS avoidance
            bool fin = finDue && offset + len == _send.Count && (avail <= 0 || len == avail);
            if (len == 0 && !fin)
            {
                if (avail > 0 && _sndMax == _sndUna && _persistDeadline == Never)
                {
                    _persistInterval = Math.Max(_rto, _cfg.MinRtoMs);
                    _persistDeadline = _now + _persistInterval;
                }
                break;
            }
            if (!EmitData(_sndNxt, len, output, retransmission: _sndNxt < _sndMax, fin)) break;
            if (!_rttTiming && !_tsOk && _sndNxt >= _sndMax && len > 0)
            {
                _rttTiming = true;
                _rttSeq = _sndNxt + len;
                _rttStart = _now;
            }
            _sndNxt += len + (fin ? 1 : 0);
            if (_sndNxt > _sndMax) _sndMax = _sndNxt;
            if (_rtoDeadline == Never) _rtoDeadline = _now + _rto;
            if (fin) break;
        }
    }

    /// <summary>Emits [seq, seq+len) from the send ring (with FIN if it ends the stream). False if the output had no room.</summary>
    private bool EmitData(SeqNum seq, int len, ITcpOutput output, bool retransmission, bool fin = false)
    {
        int offset = seq - _sendStart;
        if (offset < 0) return false;
        len = Math.Max(0, Math.Min(len, _send.Count - offset));
        if (!fin && _finQueued && _finSent && offset + len == _send.Count && seq + len < _sndMax) fin = true; // FIN retransmission
        if (len == 0 && !fin) return false;
        _send.Peek(offset, len, out var a, out var b);
        var flags = TcpFlags.Ack | (len > 0 && offset + len == _send.Count ? TcpFlags.Psh : 0) | (fin ? TcpFlags.Fin : 0);
        if (!SendSegment(seq, flags, a, b, output, withSack: false)) return false;
        if (fin) _finSent = true;
        if (retransmission) _rttTiming = false; // Karn's algorithm
        if (seq + len + (fin ? 1 : 0) > _sndMax) _sndMax = seq + len + (fin ? 1 : 0);
        if (_rtoDeadline == Never) _rtoDeadline = _now + _rto;
        return true;
    }

    private bool SendSyn(ITcpOutput output, TcpFlags flags)
    {
        bool active = State == TcpState.SynSent;
        var options = new TcpOptions(
            Mss: (ushort)Math.Min(_cfg.Mss, ushort.MaxValue),
            WindowScale: (active ? _cfg.WindowScaling : _wsOk) ? (byte)_rcvScale : null,
            SackPermitted: active ? _cfg.SackPermitted : _sackOk,
            TsVal: (active ? _cfg.Timestamps : _tsOk) ? TsNow : null,
            TsEcr: active ? 0u : _tsOk ? _tsRecent : null);
        var seg = new TcpSegmentOut(_iss, active ? default : _rcvNxt, flags, (ushort)Math.Min(_recv.Free, ushort.MaxValue), options);
        if (!output.Send(seg, default, default)) return false;
        if (_sndMax <= _iss) _sndMax = _iss + 1;
        _sndNxt = _iss + 1;
        if (!active)
        {
            _rcvAdvRight = _rcvNxt + Math.Min(_recv.Free, ushort.MaxValue);
            _edgeFromSyn = true;
        }
        if (_rtoDeadline == Never) _rtoDeadline = _now + _rto;
        _ackNow = false;
        return true;
    }

    private void SendAck(ITcpOutput output)
    {
        if (State is TcpState.Closed or TcpState.SynSent || (State == TcpState.SynReceived && !_synAcked)) return;
        SendSegment(_sndNxt, TcpFlags.Ack, default, default, output, withSack: true);
    }

    private bool SendSegment(SeqNum seq, TcpFlags flags, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ITcpOutput output, bool withSack)
    {
        int wnd = AdvertisedWindowBytes();
        var options = new TcpOptions(null, null, false, _tsOk ? TsNow : null, _tsOk ? _tsRecent : null,
            withSack && _sackOk && _ooo.Count > 0 ? SackFromOutOfOrder() : default);
        var seg = new TcpSegmentOut(seq, _rcvNxt, flags, (ushort)(wnd >> _rcvScale), options);
        if (!output.Send(seg, a, b)) return false;
        _ackNow = false;
        _ackPending = false;
        _delayedAckDeadline = Never;
        _rcvAcked = _rcvNxt;
        _edgeFromSyn = false;
        // Data sent soon after data arrived: the connection answers requests, so its ACKs may wait for the answers.
        if (a.Length + b.Length > 0 && _lastDataReceivedAt >= 0 && _now - _lastDataReceivedAt < _cfg.DelayedAckMs) _interactive = true;
        var right = _rcvNxt + wnd;
        if (right > _rcvAdvRight) _rcvAdvRight = right;
        return true;
    }

    /// <summary>SACK blocks: the range holding the latest out-of-order segment first (RFC 2018 §4), then the others.</summary>
    private SackBlocks SackFromOutOfOrder()
    {
        Span<SackBlock> blocks = stackalloc SackBlock[SackBlocks.MaxCount];
        int n = 0;
        int first = _ooo.IndexOf(_lastOooLeft);
        if (first >= 0) blocks[n++] = new SackBlock(_ooo.Left(first).Value, _ooo.Right(first).Value);
        for (int i = 0; i < _ooo.Count && n < blocks.Length; i++)
        {
            if (i == first) continue;
            blocks[n++] = new SackBlock(_ooo.Left(i).Value, _ooo.Right(i).Value);
        }
        return SackBlocks.Create(blocks[..n]);
    }

    /// <summary>
    /// The window we advertise, in bytes: the receive ring's free space rounded down to the scale unit, but never
    /// less than what keeps the right edge where we already put it (RFC 9293 §3.8.6.2.1: do not shrink the window).
    /// </summary>
    private int AdvertisedWindowBytes()
    {
        int free = Math.Min(ReceiveRoom, ushort.MaxValue << _rcvScale);
        int wnd = (free >> _rcvScale) << _rcvScale;
        int keep = _rcvAdvRight - _rcvNxt;
        if (keep > wnd) wnd = Math.Min(((keep + (1 << _rcvScale) - 1) >> _rcvScale) << _rcvScale, ushort.MaxValue << _rcvScale);
        return wnd;
    }

    /// <summary>Bytes we can take beyond RCV.NXT: the free part of the receive ring (out-of-order data lives inside it).</summary>
    private int ReceiveRoom => _recv.Free;

    private void OnRetransmissionTimeout(ITcpOutput output)
    {
        _retries++;
        bool handshake = State is TcpState.SynSent or TcpState.SynReceived;
        if (_retries > (handshake ? _cfg.MaxSynRetransmissions : _cfg.MaxRetransmissions))
        {
            Error = TcpError.TimedOut;
            if (!handshake) output.Send(new TcpSegmentOut(_sndNxt, _rcvNxt, TcpFlags.Rst | TcpFlags.Ack, 0, default), default, default);
            EnterClosed();
            return;
        }
        _rto = Math.Min(_rto * 2, _cfg.MaxRtoMs); // RFC 6298 §5.5
        _rtoDeadline = _now + _rto;
        _rttTiming = false;
        if (State == TcpState.SynSent)
        {
            _synPending = true;
            return;
        }
        if (State == TcpState.SynReceived)
        {
            _synAckPending = true;
            return;
        }
        if (_sndMax == _sndUna)
        {
            _rtoDeadline = Never;
            return;
        }
        // RFC 5681 §3.1: one segment, slow start again from SND.UNA (go-back-N, skipping SACKed data).
        _ssthresh = Math.Max((_sndMax - _sndUna) / 2, 2L * SendMss);
        _cwnd = SendMss;
        _caCredit = 0;
        _inRecovery = false;
        _recover = _sndMax;
        _recoverValid = true;
        _dupAcks = 0;
        _sndNxt = _sndUna;
        _highRxt = _sndUna;
    }

    private void SendWindowProbe(ITcpOutput output)
    {
        // A zero-window probe (RFC 9293 §3.8.6.1) as Linux sends it: an old sequence number, so the peer answers
        // with its current window whatever its state; backed off like the RTO but never giving up.
        int avail = _send.Count - (_sndNxt - _sendStart);
        if (avail <= 0 || _sndMax != _sndUna)
        {
            _persistDeadline = Never;
            return;
        }
        if (_sndWnd > 0)
        {
            // Sender SWS avoidance held a small segment back with nothing in flight: send what fits (§3.8.6.2.1).
            int len = (int)Math.Min(Math.Min(avail, SendMss), _sndWnd);
            if (EmitData(_sndNxt, len, output, retransmission: false)) _sndNxt += len;
            _persistDeadline = Never;
            return;
        }
        SendSegment(_sndUna - 1, TcpFlags.Ack, default, default, output, withSack: false);
        _persistInterval = Math.Min(_persistInterval * 2, _cfg.MaxRtoMs);
        _persistDeadline = _now + _persistInterval;
    }

    private void SampleRtt(long r)
    {
        if (r < 0) r = 0;
        if (_srtt < 0)
        {
            _srtt = r;
            _rttvar = r / 2;
        }
        else
        {
            _rttvar = (3 * _rttvar + Math.Abs(_srtt - r)) / 4;
            _srtt = (7 * _srtt + r) / 8;
        }
        _rto = Math.Clamp(_srtt + Math.Max(1, 4 * _rttvar), _cfg.MinRtoMs, _cfg.MaxRtoMs);
    }

    private uint TsNow => unchecked((uint)_now + _tsOffset);

    private void EnterTimeWait()
    {
        State = TcpState.TimeWait;
        _rtoDeadline = Never;
        _persistDeadline = Never;
        _timeWaitDeadline = _now + _cfg.TimeWaitMs;
    }

    private void EnterClosed()
    {
        State = TcpState.Closed;
        _rtoDeadline = Never;
        _persistDeadline = Never;
        _timeWaitDeadline = Never;
    }

    private TcpInputResult Drop(DropReason reason)
    {
        _drops.Increment(reason);
        return TcpInputResult.Dropped;
    }
}
