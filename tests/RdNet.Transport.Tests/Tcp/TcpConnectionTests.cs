using RdNet.Transport.Diagnostics;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;
using static RdNet.Transport.Tests.Tcp.T;

namespace RdNet.Transport.Tests.Tcp;

/// <summary>Scenario tables for one connection, driven segment by segment on an explicit clock (ms).</summary>
public class TcpConnectionTests
{
    public static TheoryData<string, TcpOptions, bool, bool, bool, int> HandshakeVariants => new()
    {
        // name, peer SYN options, expect WS, SACK, TS, send MSS
        { "linux", LinuxSyn, true, true, true, 1460 - 12 },
        { "no options", TcpOptions.None, false, false, false, 536 },
        { "mss only", new TcpOptions(1200, null, false, null, null), false, false, false, 1200 },
        { "sack without ts", new TcpOptions(1460, 2, true, null, null), true, true, false, 1460 },
        { "ts without ws", new TcpOptions(9000, null, false, 77, 0), false, false, true, 1460 - 12 },
    };

    [Theory]
    [MemberData(nameof(HandshakeVariants))]
    public void A_passive_open_answers_only_after_accept_and_negotiates_what_the_peer_offered(
        string name, TcpOptions syn, bool ws, bool sack, bool ts, int mss)
    {
        var drops = new DropCounters();
        var o = new Recorder();
        var c = TcpConnection.Listen(new TcpConfig(), drops, Syn(1000, syn), new SeqNum(50), 0)!;
        Assert.Equal(TcpState.SynReceived, c.State);
        c.Poll(0, o);
        Assert.Empty(o.Segments); // the host socket is not connected yet: no SYN-ACK
        c.Accept();
        c.Poll(5, o);
        var sa = o.Single();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, sa.Flags);
        Assert.Equal(50u, sa.Seq.Value);
        Assert.Equal(1001u, sa.Ack.Value);
        Assert.Equal((ushort)1460, sa.Options.Mss);
        Assert.Equal(ws, sa.Options.WindowScale.HasValue);
        Assert.Equal(sack, sa.Options.SackPermitted);
        Assert.Equal(ts, sa.Options.TsVal.HasValue);
        if (ts) Assert.Equal(syn.TsVal, sa.Options.TsEcr);
        c.Receive(Ack(new SeqNum(1001), new SeqNum(51), 1000, ts ? syn.TsVal + 1 : null, sa.Options.TsVal), 6, o);
        Assert.Equal(TcpState.Established, c.State);
        Assert.True(c.Negotiated(out var w, out var s, out var t), name);
        Assert.Equal((ws, sack, ts), (w, s, t));
        Assert.Equal(mss, c.SendMss);
    }

    [Fact]
    public void A_retransmitted_syn_gets_the_syn_ack_again_and_the_syn_ack_is_retransmitted_with_backoff()
    {
        var o = new Recorder();
        var c = TcpConnection.Listen(new TcpConfig(), new DropCounters(), Syn(1000, LinuxSyn), new SeqNum(50), 0)!;
        c.Accept();
        c.Poll(0, o);
        o.Single();
        c.Receive(Syn(1000, LinuxSyn), 300, o);
        c.Poll(300, o);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, o.Single().Flags);
        Assert.Equal(1000, c.NextDeadline);
        c.Poll(1000, o);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, o.Single().Flags);
        Assert.Equal(3000, c.NextDeadline); // RTO doubled
        c.Poll(3000, o);
        Assert.Single(o.Take());
        Assert.Equal(7000, c.NextDeadline);
    }

    [Fact]
    public void An_active_open_offers_every_option_and_completes_on_syn_ack()
    {
        var o = new Recorder();
        var c = TcpConnection.Connect(new TcpConfig { Mss = 8960 }, new DropCounters(), new SeqNum(7), 0);
        c.Poll(0, o);
        var syn = o.Single();
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(new TcpOptions(8960, (byte)c.WindowScale, true, syn.Options.TsVal, 0), syn.Options);
        c.Receive(new TcpSegmentIn(new SeqNum(900), new SeqNum(8), TcpFlags.Syn | TcpFlags.Ack, 29200,
            new TcpOptions(1460, 7, true, 555, syn.Options.TsVal), default), 2, o);
        Assert.Equal(TcpState.Established, c.State);
        c.Poll(2, o);
        var ack = o.Single();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(901u, ack.Ack.Value);
        Assert.Equal(555u, ack.Options.TsEcr);
        Assert.Equal(7, c.PeerWindowScale);
        Assert.Equal(29200, c.PeerWindow);
    }

    [Fact]
    public void An_active_open_answered_by_rst_is_refused_and_a_bad_syn_ack_gets_rst()
    {
        var drops = new DropCounters();
        var o = new Recorder();
        var c = TcpConnection.Connect(new TcpConfig(), drops, new SeqNum(7), 0);
        c.Poll(0, o);
        o.Take();
        // An ACK for something we never sent: RST from its ACK number, connection unchanged.
        c.Receive(new TcpSegmentIn(new SeqNum(900), new SeqNum(5000), TcpFlags.Syn | TcpFlags.Ack, 100, default, default), 1, o);
        var rst = o.Single();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(5000u, rst.Seq.Value);
        Assert.Equal(1, drops[DropReason.TcpBadHandshakeAck]);
        Assert.Equal(TcpState.SynSent, c.State);
        c.Receive(new TcpSegmentIn(default, new SeqNum(8), TcpFlags.Rst | TcpFlags.Ack, 0, default, default), 2, o);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.Refused, c.Error);
    }

    [Fact]
    public void The_handshake_ack_gets_no_window_update_and_the_first_ack_carries_the_full_scaled_window()
    {
        var o = new Recorder();
        var c = TcpConnection.Listen(new TcpConfig(), new DropCounters(), Syn(1000, LinuxSyn), new SeqNum(50), 0)!;
        c.Accept();
        c.Poll(0, o);
        var synAck = o.Single();
        Assert.Equal((ushort)65535, synAck.Window); // a SYN's window is never scaled
        c.Receive(Ack(new SeqNum(1001), new SeqNum(51), 502, 1001, synAck.Options.TsVal), 1, o);
        c.Poll(1, o);
        Assert.Empty(o.Take()); // 256 KiB of room behind a 64 KiB window: no frame just to say so
        c.Receive(Ack(new SeqNum(1001), new SeqNum(51), 502, 1002, synAck.Options.TsVal, data: Bytes(100)), 2, o);
        c.Poll(2, o);
        var ack = o.Single();
        Assert.Equal(1101u, ack.Ack.Value);
        Assert.Equal((256 * 1024 - 100) >> c.WindowScale, (int)ack.Window);
    }

    [Fact]
    public void Data_is_delivered_in_order_and_the_window_tracks_the_unread_bytes()
    {
        var cfg = new TcpConfig { ReceiveBufferSize = 8192 };
        var (c, o, _, peer, us) = Established(cfg);
        var data = Bytes(3000);
        c.Receive(Ack(peer, us, 65535, data: data[..1460]), 10, o);
        c.Receive(Ack(peer + 1460, us, 65535, data: data[1460..]), 10, o);
        Assert.Empty(o.Segments); // acknowledged once per batch, in Poll
        c.Poll(10, o);
        var ack = o.Single();
        Assert.Equal(peer + 3000, ack.Ack);
        Assert.Equal(8192 - 3000, ack.Window);
        Assert.Equal(3000, c.ReceivedCount);
        var buf = new byte[4000];
        Assert.Equal(3000, c.Read(buf));
        Assert.Equal(data, buf[..3000]);
        c.Poll(11, o);
        Assert.Equal(8192, o.Single().Window); // the freed room is announced (window update)
    }

    [Fact]
    public void A_full_receive_buffer_closes_the_window_and_answers_zero_window_probes_with_an_ack()
    {
        var cfg = new TcpConfig { ReceiveBufferSize = 2000 };
        var (c, o, drops, peer, us) = Established(cfg);
        c.Receive(Ack(peer, us, 65535, data: Bytes(1000)), 10, o);
        c.Receive(Ack(peer + 1000, us, 65535, data: Bytes(1000)), 10, o);
        c.Poll(10, o);
        Assert.Equal(0, o.Single().Window);
        // The peer probes with one byte beyond the closed window.
        c.Receive(Ack(peer + 2000, us, 65535, data: [42]), 500, o);
        var reply = o.Single();
        Assert.Equal(peer + 2000, reply.Ack);
        Assert.Equal(0, reply.Window);
        Assert.Equal(1, drops[DropReason.TcpZeroWindowProbe]);
        Assert.Equal(2000, c.ReceivedCount);
    }

    [Fact]
    public void A_zero_peer_window_starts_the_persist_timer_and_probes_with_backoff_until_it_opens()
    {
        var (c, o, _, peer, us) = Established(peerWindow: 65535);
        c.Receive(Ack(peer, us, 0), 5, o); // the peer closes its window
        c.Write(Bytes(500));
        c.Poll(10, o);
        Assert.Empty(o.Segments);
        long first = c.NextDeadline;
        Assert.Equal(10 + 1000, first);
        c.Poll(first, o);
        var probe = o.Single();
        Assert.Equal(us - 1, probe.Seq); // an old sequence number: the peer must answer with its window
        Assert.Empty(probe.Payload);
        long second = c.NextDeadline;
        Assert.Equal(first + 2000, second);
        c.Receive(Ack(peer, us, 1000), second - 5, o); // the window opens
        c.Poll(second - 5, o);
        var data = o.Single();
        Assert.Equal(us, data.Seq);
        Assert.Equal(500, data.Payload.Length);
    }

    [Fact]
    public void Unacknowledged_data_is_retransmitted_with_exponential_backoff_then_the_connection_times_out()
    {
        var cfg = new TcpConfig { MaxRetransmissions = 3 };
        var (c, o, _, peer, us) = Established(cfg);
        c.Write(Bytes(100));
        c.Poll(100, o);
        Assert.Equal(us, o.Single().Seq);
        long[] expected = [1100, 3100, 7100];
        foreach (var t in expected)
        {
            Assert.Equal(t, c.NextDeadline);
            c.Poll(t, o);
            var r = o.Single();
            Assert.Equal(us, r.Seq);
            Assert.Equal(100, r.Payload.Length);
        }
        c.Poll(15100, o);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, o.Single().Flags);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    [Fact]
    public void Three_duplicate_acks_retransmit_the_first_unacknowledged_segment_at_once()
    {
        var (c, o, _, peer, us) = Established(synOptions: new TcpOptions(1000, null, false, null, null));
        c.Write(Bytes(10_000));
        c.Poll(10, o);
        var sent = o.Take();
        Assert.Equal(10, sent.Count);
        c.Receive(Ack(peer, us + 1000, 65535), 12, o); // first segment acked, second lost
        c.Poll(12, o);
        o.Take();
        for (int i = 0; i < 2; i++) c.Receive(Ack(peer, us + 1000, 65535), 13, o);
        Assert.Empty(o.Segments);
        c.Receive(Ack(peer, us + 1000, 65535), 13, o);
        var rtx = o.Single();
        Assert.Equal(us + 1000, rtx.Seq);
        Assert.True(c.InRecovery);
        // A partial ACK retransmits the next hole (NewReno); the full ACK ends recovery.
        c.Receive(Ack(peer, us + 3000, 65535), 14, o);
        Assert.Equal(us + 3000, o.Take()[0].Seq);
        c.Receive(Ack(peer, us + 10_000, 65535), 15, o);
        Assert.False(c.InRecovery);
    }

    [Fact]
    public void With_sack_only_the_holes_are_retransmitted()
    {
        var (c, o, _, peer, us) = Established(synOptions: new TcpOptions(1000, null, true, null, null));
        c.Write(Bytes(8000));
        c.Poll(10, o);
        Assert.Equal(8, o.Take().Count);
        // Segments 1 and 4 (0-based) lost: the peer SACKs 2-3 and 5-7.
        var s1 = SackBlocks.Create([new SackBlock((us + 2000).Value, (us + 4000).Value)]);
        var s2 = SackBlocks.Create([new SackBlock((us + 5000).Value, (us + 8000).Value), new SackBlock((us + 2000).Value, (us + 4000).Value)]);
        c.Receive(Ack(peer, us + 1000, 65535), 12, o);
        c.Receive(Ack(peer, us + 1000, 65535, sack: s1), 12, o);
        c.Receive(Ack(peer, us + 1000, 65535, sack: s1), 12, o);
        c.Receive(Ack(peer, us + 1000, 65535, sack: s2), 12, o);
        var r = o.Take();
        Assert.Contains(r, s => s.Seq == us + 1000 && s.Payload.Length == 1000);
        c.Receive(Ack(peer, us + 1000, 65535, sack: s2), 12, o);
        r = o.Take();
        Assert.Contains(r, s => s.Seq == us + 4000 && s.Payload.Length == 1000);
        Assert.DoesNotContain(r, s => s.Seq == us + 2000 || s.Seq == us + 5000);
    }

    [Fact]
    public void Out_of_order_segments_are_held_sacked_and_delivered_when_the_hole_fills_within_the_bound()
    {
        var cfg = new TcpConfig { MaxOutOfOrderRanges = 2 };
        var (c, o, drops, peer, us) = Established(cfg);
        var data = Bytes(5000);
        c.Receive(Ack(peer + 1000, us, 65535, data: data[1000..2000]), 10, o);
        var dup = o.Single(); // immediate duplicate ACK with SACK
        Assert.Equal(peer, dup.Ack);
        Assert.Equal(1, dup.Options.Sack.Count);
        Assert.Equal((peer + 1000).Value, dup.Options.Sack[0].Left);
        c.Receive(Ack(peer + 3000, us, 65535, data: data[3000..4000]), 11, o);
        Assert.Equal((peer + 3000).Value, o.Single().Options.Sack[0].Left); // latest block first
        c.Receive(Ack(peer + 4500, us, 65535, data: data[4500..5000]), 12, o); // a third range: over the bound
        o.Take();
        Assert.Equal(1, drops[DropReason.TcpOutOfOrderQueueFull]);
        Assert.Equal(0, c.ReceivedCount);
        c.Receive(Ack(peer, us, 65535, data: data[..1000]), 13, o);
        c.Receive(Ack(peer + 2000, us, 65535, data: data[2000..3000]), 13, o);
        c.Poll(13, o);
        Assert.Equal(4000, c.ReceivedCount);
        var buf = new byte[5000];
        Assert.Equal(4000, c.Read(buf));
        Assert.Equal(data[..4000], buf[..4000]);
        Assert.Equal(0, c.OutOfOrderRanges);
    }

    [Fact]
    public void Half_close_keeps_the_other_direction_open_both_ways()
    {
        // The peer closes its side first; we keep sending, then close.
        var (c, o, _, peer, us) = Established();
        c.Receive(Ack(peer, us, 65535, data: Bytes(10), extra: TcpFlags.Fin), 10, o);
        c.Poll(10, o);
        Assert.Equal(peer + 11, o.Single().Ack);
        Assert.Equal(TcpState.CloseWait, c.State);
        Assert.True(c.PeerFinished);
        c.Write(Bytes(300));
        c.Poll(11, o);
        Assert.Equal(300, o.Single().Payload.Length);
        c.ShutdownSend();
        c.Poll(12, o);
        var fin = o.Single();
        Assert.True(fin.Has(TcpFlags.Fin));
        Assert.Equal(us + 300, fin.Seq);
        c.Receive(Ack(peer + 11, us + 301, 65535), 13, o);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);

        // We close first; the peer keeps sending, we keep receiving.
        var (d, p, _, peer2, us2) = Established();
        d.ShutdownSend();
        d.Poll(10, p);
        Assert.True(p.Single().Has(TcpFlags.Fin));
        d.Receive(Ack(peer2, us2 + 1, 65535), 11, p);
        Assert.Equal(TcpState.FinWait2, d.State);
        d.Receive(Ack(peer2, us2 + 1, 65535, data: Bytes(700)), 12, p);
        d.Poll(12, p);
        Assert.Equal(700, d.ReceivedCount);
        d.Receive(Ack(peer2 + 700, us2 + 1, 65535, extra: TcpFlags.Fin), 13, p);
        d.Poll(13, p);
        Assert.Equal(TcpState.TimeWait, d.State);
        Assert.Equal(13 + new TcpConfig().TimeWaitMs, d.NextDeadline);
        d.Poll(d.NextDeadline, p);
        Assert.Equal(TcpState.Closed, d.State);
    }

    [Fact]
    public void Simultaneous_close_goes_through_closing_to_time_wait()
    {
        var (c, o, _, peer, us) = Established();
        c.ShutdownSend();
        c.Poll(10, o);
        Assert.True(o.Single().Has(TcpFlags.Fin));
        // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
        c.Receive(Ack(peer, us, 65535, extra: TcpFlags.Fin), 11, o);
        Assert.Equal(TcpState.Closing, c.State);
        c.Poll(11, o);
        Assert.Equal(peer + 1, o.Single().Ack);
        c.Receive(Ack(peer + 1, us + 1, 65535), 12, o);
        Assert.Equal(TcpState.TimeWait, c.State);
    }

    public static TheoryData<string, int, bool, DropReason?, TcpState> RstCases => new()
    {
        // name, offset of SEG.SEQ from RCV.NXT, expect a challenge ACK, drop reason, resulting state
        { "exact", 0, false, null, TcpState.Closed },
        { "in window", 100, true, DropReason.TcpRstChallenged, TcpState.Established },
        { "left of window", -1, false, DropReason.TcpRstOutOfWindow, TcpState.Established },
        { "right of window", 300_000, false, DropReason.TcpRstOutOfWindow, TcpState.Established },
    };

    [Theory]
    [MemberData(nameof(RstCases))]
    public void Rst_is_accepted_only_at_rcv_nxt_and_answered_with_a_challenge_ack_inside_the_window(
        string name, int offset, bool challenge, DropReason? reason, TcpState state)
    {
        var (c, o, drops, peer, us) = Established();
        var r = c.Receive(new TcpSegmentIn(peer + offset, default, TcpFlags.Rst, 0, default, default), 10, o);
        Assert.Equal(state, c.State);
        var sent = o.Take();
        Assert.Equal(challenge, sent.Count == 1);
        if (challenge) Assert.Equal(peer, sent[0].Ack);
        if (reason is DropReason d) Assert.Equal(1, drops[d]);
        else
        {
            Assert.Equal(TcpInputResult.Accepted, r);
            Assert.Equal(TcpError.Reset, c.Error);
        }
        Assert.NotNull(name);
    }

    [Fact]
    public void A_syn_on_an_established_connection_gets_a_challenge_ack_and_changes_nothing()
    {
        var (c, o, drops, peer, us) = Established();
        c.Receive(Syn(peer.Value + 50, LinuxSyn), 10, o);
        Assert.Equal(peer, o.Single().Ack);
        Assert.Equal(1, drops[DropReason.TcpSynChallenged]);
        Assert.Equal(TcpState.Established, c.State);
    }

    [Fact]
    public void An_ack_of_unsent_data_is_dropped_and_answered_and_an_ancient_ack_too()
    {
        var (c, o, drops, peer, us) = Established();
        c.Write(Bytes(100));
        c.Poll(5, o);
        o.Take();
        c.Receive(Ack(peer, us + 5000, 65535), 10, o);
        Assert.Equal(us + 100, o.Single().Seq);
        Assert.Equal(1, drops[DropReason.TcpAckOfUnsentData]);
        Assert.Equal(us, c.SendUnacknowledged);
        c.Receive(Ack(peer, us - 200_000, 65535), 11, o);
        Assert.Single(o.Take());
        Assert.Equal(1, drops[DropReason.TcpAckTooOld]);
        Assert.Equal(100, c.SendBuffered);
    }

    [Fact]
    public void Segments_outside_the_window_are_answered_with_an_ack_and_counted()
    {
        var (c, o, drops, peer, us) = Established(new TcpConfig { ReceiveBufferSize = 4096 });
        c.Receive(Ack(peer + 10_000, us, 65535, data: Bytes(10)), 10, o);
        Assert.Equal(peer, o.Single().Ack);
        Assert.Equal(1, drops[DropReason.TcpOutsideWindow]);
    }

    [Fact]
    public void Paws_drops_a_segment_with_an_older_timestamp()
    {
        var (c, o, drops, peer, us) = Established(synOptions: LinuxSyn);
        c.Receive(Ack(peer, us, 65535, tsVal: 5000, tsEcr: 1, data: Bytes(10)), 10, o);
        c.Poll(10, o);
        o.Take();
        c.Receive(Ack(peer + 10, us, 65535, tsVal: 4000, tsEcr: 1, data: Bytes(10)), 11, o);
        Assert.Single(o.Take());
        Assert.Equal(1, drops[DropReason.TcpPawsRejected]);
        Assert.Equal(10, c.ReceivedCount);
    }

    [Theory]
    [InlineData(9000u, 1_000_000, true)]  // newer timestamp: a new incarnation (RFC 6191)
    [InlineData(10u, 1_000_000, false)]   // older timestamp: an old duplicate (PAWS), whatever its sequence number
    [InlineData(9000u, -1000, true)]      // newer timestamp, lower sequence number: still new
    [InlineData(2000u, 1_000_000, true)]  // the same timestamp and a higher sequence number: new (as Linux)
    [InlineData(2000u, -1000, false)]     // the same timestamp and a lower sequence number: not provably new
    [InlineData(null, 1_000_000, true)]   // no timestamp in the SYN: a higher sequence number decides
    [InlineData(null, -1000, false)]
    public void A_syn_for_a_time_wait_tuple_reopens_only_with_a_newer_timestamp(uint? tsVal, int seqOffset, bool reopens)
    {
        var (c, o, drops, peer, us) = Established(synOptions: LinuxSyn);
        c.ShutdownSend();
        c.Poll(10, o);
        c.Receive(Ack(peer, us + 1, 65535, tsVal: 2000, tsEcr: 1, extra: TcpFlags.Fin), 11, o);
        Assert.Equal(TcpState.TimeWait, c.State);
        o.Take();
        var r = c.Receive(Syn((uint)(peer.Value + seqOffset), LinuxSyn with { TsVal = tsVal, TsEcr = tsVal is null ? null : 0 }), 12, o);
        Assert.Equal(reopens ? TcpInputResult.ReopenFromTimeWait : TcpInputResult.Dropped, r);
        Assert.Equal(reopens ? TcpState.Closed : TcpState.TimeWait, c.State);
        if (!reopens)
        {
            Assert.Equal(1, drops[DropReason.TcpTimeWaitSynRejected]);
            var ack = o.Single(); // what Linux answers: the TIME-WAIT ACK, which the SYN's sender resets
            Assert.Equal(TcpFlags.Ack, ack.Flags);
            Assert.Equal(peer + 1, ack.Ack);
        }
        else
        {
            Assert.Empty(o.Take());
        }
    }

    [Fact]
    public void An_idle_connection_gives_its_ring_storage_back_and_rents_it_again_for_new_data()
    {
        var (c, o, _, peer, us) = Established();
        Assert.Equal((false, false), c.BuffersHeld); // nothing rented before any data
        c.Write(Bytes(100));
        c.Receive(Ack(peer, us, 65535, data: Bytes(50)), 5, o);
        c.Poll(5, o);
        Assert.Equal((true, true), c.BuffersHeld);
        c.ReleaseIdleSendBuffer();    // 100 bytes unacknowledged: kept
        c.ReleaseIdleReceiveBuffer(); // 50 bytes unread: kept
        Assert.Equal((true, true), c.BuffersHeld);
        c.Receive(Ack(peer + 50, us + 100, 65535), 6, o);
        Assert.Equal(50, c.Read(new byte[64]));
        c.ReleaseIdleSendBuffer();
        c.ReleaseIdleReceiveBuffer();
        Assert.Equal((false, false), c.BuffersHeld);
        var more = Bytes(10, 9);
        c.Receive(Ack(peer + 50, us + 100, 65535, data: more), 7, o);
        var buf = new byte[10];
        Assert.Equal(10, c.Read(buf));
        Assert.Equal(more, buf);
    }

    [Fact]
    public void A_peer_that_shrinks_its_window_below_the_data_in_flight_stops_the_sender_without_underflow()
    {
        // RELIABILITY row 9: window shrink.
        var (c, o, _, peer, us) = Established(synOptions: new TcpOptions(1000, null, false, null, null));
        c.Write(Bytes(8000));
        c.Poll(10, o);
        Assert.Equal(8, o.Take().Count);
        c.Receive(Ack(peer, us + 1000, 500), 11, o); // 7000 in flight, window 500
        c.Write(Bytes(3000));
        c.Poll(11, o);
        Assert.Empty(o.Take());
        Assert.Equal(500, c.PeerWindow);
        c.Receive(Ack(peer, us + 8000, 65535), 12, o);
        c.Poll(12, o);
        var sent = o.Take();
        Assert.Equal(3000, sent.Sum(x => x.Payload.Length));
        Assert.Equal(us + 8000, sent[0].Seq);
    }

    [Fact]
    public void Sequence_numbers_wrap_near_2_to_the_32_without_losing_a_byte()
    {
        var sim = new LinkSim(1, new TcpConfig(), new TcpConfig(), issA: uint.MaxValue - 3000, issB: uint.MaxValue - 100);
        var a = Bytes(300_000, 2);
        var b = Bytes(200_000, 3);
        var (readA, readB) = sim.Run(a, b);
        Assert.Equal(a, readB);
        Assert.Equal(b, readA);
        Assert.True(sim.A.IsClosed && sim.PassiveSide!.IsClosed);
        Assert.Equal(TcpError.None, sim.A.Error);
    }

    [Theory]
    [InlineData(1, 0.02, 0.01, 1, 5)]
    [InlineData(2, 0.05, 0.02, 1, 20)]
    [InlineData(3, 0.10, 0.05, 1, 10)]
    [InlineData(4, 0.01, 0.10, 5, 40)]
    [InlineData(5, 0.03, 0.03, 1, 30)]
    // Both ends with delayed ACKs (TcpDelayedAckTests has the rules one by one).
    [InlineData(11, 0.02, 0.01, 1, 5, 40)]
    [InlineData(12, 0.05, 0.03, 1, 20, 40)]
    [InlineData(13, 0.0, 0.0, 1, 1, 40)]
    public void Two_engines_over_a_lossy_reordering_duplicating_link_deliver_both_streams_intact(int seed, double loss, double dup, int minDelay, int maxDelay, long delayedAckMs = 0)
    {
        var cfg = new TcpConfig { ReceiveBufferSize = 64 * 1024, SendBufferSize = 64 * 1024, MaxRetransmissions = 30, DelayedAckMs = delayedAckMs };
        var sim = new LinkSim(seed, cfg, cfg with { SackPermitted = seed % 2 == 1 }, issA: (uint)seed * 77_777_777u, issB: (uint)seed * 1_234_567u)
        {
            Loss = loss,
            Duplicate = dup,
            MinDelay = minDelay,
            MaxDelay = maxDelay,
        };
        var a = Bytes(250_000, seed);
        var b = Bytes(120_000, seed + 100);
        var (readA, readB) = sim.Run(a, b, limitMs: 3_600_000);
        Assert.Equal(a.Length, readB.Length);
        Assert.Equal(a, readB);
        Assert.Equal(b, readA);
        Assert.True(sim.A.IsClosed, $"A is {sim.A.State}");
        Assert.True(sim.PassiveSide!.IsClosed, $"B is {sim.PassiveSide.State}");
    }
}
