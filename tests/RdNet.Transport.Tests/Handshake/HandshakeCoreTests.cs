using System.Text;
using FsCheck;
using FsCheck.Xunit;
using RdNet.Transport.Handshake;

namespace RdNet.Transport.Tests.Handshake;

public sealed class SignatureMatcherTests
{
    [Fact]
    public void The_phrases_have_the_lengths_of_the_spec()
    {
        Assert.Equal(60, HandshakeSignature.CurrentPhrase.Length);
        Assert.Equal(53, HandshakeSignature.OriginalPhrase.Length);
        Assert.Equal("github.com/rancher-sandbox/rancher-desktop/src/go/networking", Encoding.ASCII.GetString(HandshakeSignature.CurrentPhrase));
        Assert.Equal("github.com/rancher-sandbox/rancher-desktop-networking", Encoding.ASCII.GetString(HandshakeSignature.OriginalPhrase));
        Assert.Equal("READY", Encoding.ASCII.GetString(HandshakeSignature.Ready));
    }

    [Theory]
    [InlineData(SignatureKind.Current)]
    [InlineData(SignatureKind.Original)]
    public void Either_phrase_matches_whole(SignatureKind kind)
    {
        var m = new SignatureMatcher();
        var phrase = HandshakeSignature.Phrase(kind);
        Assert.Equal(phrase.Length, m.Feed(phrase));
        Assert.Equal(MatchState.Matched, m.State);
        Assert.Equal(kind, m.Kind);
        Assert.Equal(0, m.Wanted);
    }

    [Fact]
    public void Bytes_after_the_original_phrase_are_not_consumed()
    {
        var m = new SignatureMatcher();
        var data = HandshakeSignature.OriginalPhrase.ToArray().Concat("READY"u8.ToArray()).ToArray();
        Assert.Equal(53, m.Feed(data));
        Assert.Equal(SignatureKind.Original, m.Kind);
    }

    [Fact]
    public void A_wrong_byte_is_a_mismatch_as_soon_as_it_arrives()
    {
        var m = new SignatureMatcher();
        m.Feed("github.com/rancher-sandbox/rancher-desktop"u8);
        Assert.Equal(MatchState.NeedMore, m.State);
        m.Feed("!"u8);
        Assert.Equal(MatchState.Mismatch, m.State);
        Assert.Equal("github.com/rancher-sandbox/rancher-desktop!", Encoding.ASCII.GetString(m.Received));
    }

    [Fact]
    public void EOF_in_the_middle_of_a_phrase_is_a_mismatch_and_EOF_after_nothing_too()
    {
        var m = new SignatureMatcher();
        m.Feed("github.com/"u8);
        m.EndOfStream();
        Assert.Equal(MatchState.Mismatch, m.State);
        var empty = new SignatureMatcher();
        empty.EndOfStream();
        Assert.Equal(MatchState.Mismatch, empty.State);
    }

    [Fact]
    public void Wanted_never_asks_past_the_longest_phrase()
    {
        var m = new SignatureMatcher();
        Assert.Equal(60, m.Wanted);
        m.Feed("github"u8);
        Assert.Equal(54, m.Wanted);
    }

    [Property(MaxTest = 300)]
    public bool Any_split_of_a_phrase_into_chunks_matches_the_same(PositiveInt[] chunks, bool original)
    {
        var kind = original ? SignatureKind.Original : SignatureKind.Current;
        var phrase = HandshakeSignature.Phrase(kind).ToArray();
        var m = new SignatureMatcher();
        var at = 0;
        foreach (var c in chunks ?? [])
        {
            if (at >= phrase.Length) break;
            at += m.Feed(phrase.AsSpan(at, Math.Min(c.Get, phrase.Length - at)));
        }
        if (at < phrase.Length) m.Feed(phrase.AsSpan(at));
        return m.State == MatchState.Matched && m.Kind == kind;
    }

    [Theory]
    [InlineData("READY", AnswerOutcome.Ready)]
    [InlineData("READYX", AnswerOutcome.Ready)]
    [InlineData("HELLO", AnswerOutcome.Garbage)]
    [InlineData("RE", AnswerOutcome.Pending)]
    public void The_guest_reads_exactly_READY(string input, AnswerOutcome expected)
    {
        var m = new ReadyMatcher();
        var used = m.Feed(Encoding.ASCII.GetBytes(input));
        Assert.Equal(expected, m.Outcome);
        Assert.True(used <= 5);
    }

    [Fact]
    public void EOF_before_anything_is_a_probe_and_after_a_partial_READY_is_garbage()
    {
        var probe = new ReadyMatcher();
        probe.EndOfStream();
        Assert.Equal(AnswerOutcome.Probe, probe.Outcome);
        var partial = new ReadyMatcher();
        partial.Feed("REA"u8);
        partial.EndOfStream();
        Assert.Equal(AnswerOutcome.Garbage, partial.Outcome);
    }
}

public sealed class HostHandshakeTests
{
    private static readonly HandshakeTimings T = new(
        ConnectTimeout: TimeSpan.FromSeconds(5), SignatureTimeout: TimeSpan.FromSeconds(5), ProbeInterval: TimeSpan.FromSeconds(1),
        DiscoveryTimeout: TimeSpan.FromSeconds(10), DataAcceptTimeout: TimeSpan.FromSeconds(10), MaxAttempts: 3,
        MinBackoff: TimeSpan.FromMilliseconds(200), MaxBackoff: TimeSpan.FromMilliseconds(500));

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void The_happy_path_goes_probe_listen_ready_accept_linked_with_each_deadline()
    {
        var h = new HostHandshake(T);
        Assert.Equal(new HostAction(HostStep.Probe, S(10)), h.Start(S(0)));
        Assert.Equal(new HostAction(HostStep.ListenForData, S(1)), h.ProbeAnswered(SignatureKind.Original, S(1)));
        Assert.Equal(new HostAction(HostStep.SendReady, S(6)), h.DataListening(S(1)));
        Assert.Equal(new HostAction(HostStep.AcceptData, S(12)), h.ReadySent(S(2)));
        Assert.Equal(HostStep.Linked, h.DataAccepted(S(3)).Step);
        Assert.Equal(SignatureKind.Original, h.PeerSignature);
        Assert.Equal(1, h.Handshakes);
    }

    [Fact]
    public void An_absent_guest_is_probed_every_interval_until_the_discovery_timeout()
    {
        var h = new HostHandshake(T);
        h.Start(S(0));
        var now = S(0);
        var probes = 0;
        HostAction a;
        do
        {
            a = h.ProbeFailed("refused", now);
            probes++;
            if (a.Step == HostStep.Wait)
            {
                Assert.Equal(now + S(1), a.Deadline);
                now = a.Deadline;
                Assert.Equal(HostStep.Probe, h.Expired(now).Step);
            }
        } while (a.Step != HostStep.Failed);
        Assert.Equal(11, probes); // failures at 0..10 s: the 11th is at the 10 s discovery timeout
        Assert.StartsWith("no handshake answer within 10 s (11 probes; last: refused)", h.LastFailure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_probe_deadline_counts_as_a_failed_probe_but_an_early_wakeup_changes_nothing()
    {
        var h = new HostHandshake(T);
        h.Start(S(0));
        Assert.Equal(new HostAction(HostStep.Probe, S(10)), h.Expired(S(9.9)));
        Assert.Equal(HostStep.Wait, h.Expired(S(10)).Step);
        Assert.Equal(1, h.FailedProbes);
        Assert.Contains("no phrase within 10 s", h.LastFailure, StringComparison.Ordinal);
    }

    [Fact]
    public void Failures_after_a_good_probe_back_off_exponentially_and_give_up_at_max_attempts()
    {
        var h = new HostHandshake(T);
        h.Start(S(0));
        var now = S(0);
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            h.ProbeAnswered(SignatureKind.Current, now);
            h.DataListening(now);
            h.ReadySent(now);
            var a = h.Expired(now + S(10)); // no data connection in time
            now += S(10);
            if (a.Step == HostStep.Failed) break;
            Assert.Equal(HostStep.Wait, a.Step);
            delays.Add(a.Deadline - now);
            now = a.Deadline;
            Assert.Equal(HostStep.Probe, h.Expired(now).Step);
        }
        Assert.Equal([TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400)], delays);
        Assert.Equal(HostStep.Failed, h.Step);
        Assert.Equal("handshake failed 3 times; last: no data connection within 10 s of READY", h.LastFailure);
    }

    [Fact]
    public void A_good_probe_resets_the_discovery_clock()
    {
        var h = new HostHandshake(T);
        h.Start(S(0));
        h.ProbeFailed("refused", S(0));
        h.Expired(S(1));
        h.ProbeAnswered(SignatureKind.Current, S(9));
        h.DataListening(S(9));
        h.AttemptFailed("READY refused", S(9));
        h.Expired(S(10));
        // 20 s after the first failed probe, but only the first failure since the good one.
        Assert.Equal(HostStep.Wait, h.ProbeFailed("refused", S(20)).Step);
    }

    [Fact]
    public void A_dropped_link_starts_a_new_round_with_fresh_counters()
    {
        var h = new HostHandshake(T);
        h.Start(S(0));
        h.ProbeAnswered(SignatureKind.Current, S(0));
        h.DataListening(S(0));
        h.AttemptFailed("x", S(0));
        h.Expired(S(1));
        h.ProbeAnswered(SignatureKind.Current, S(1));
        h.DataListening(S(1));
        h.ReadySent(S(1));
        h.DataAccepted(S(2));
        Assert.Equal(new HostAction(HostStep.Probe, S(110)), h.LinkDropped(S(100)));
        Assert.Equal(0, h.FailedAttempts);
    }

    [Fact]
    public void Events_out_of_order_are_programming_errors()
    {
        var h = new HostHandshake(T);
        Assert.Throws<InvalidOperationException>(() => h.DataAccepted(S(0)));
        h.Start(S(0));
        Assert.Throws<InvalidOperationException>(() => h.Start(S(0)));
        Assert.Throws<InvalidOperationException>(() => h.AttemptFailed("x", S(0)));
    }

    [Fact]
    public void Retry_backoff_doubles_up_to_the_cap_and_stops_at_the_attempt_bound()
    {
        var b = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300), 4);
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.Failed());
        Assert.Equal(TimeSpan.FromMilliseconds(200), b.Failed());
        Assert.Equal(TimeSpan.FromMilliseconds(300), b.Failed());
        Assert.Null(b.Failed());
        Assert.True(b.Exhausted);
        b.Reset();
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.Failed());
    }
}
