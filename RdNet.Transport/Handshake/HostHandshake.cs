namespace RdNet.Transport.Handshake;

/// <summary>Every time bound of the handshake (hocon <c>rdnet.handshake</c>).</summary>
public sealed record HandshakeTimings(
    TimeSpan ConnectTimeout,
    TimeSpan SignatureTimeout,
    TimeSpan ProbeInterval,
    TimeSpan DiscoveryTimeout,
    TimeSpan DataAcceptTimeout,
    int MaxAttempts,
    TimeSpan MinBackoff,
    TimeSpan MaxBackoff)
{
    /// <summary>The original's numbers (spec §2.1): 1 s probes for 5 minutes, 10 s for the data connection, 5 attempts.</summary>
    public static HandshakeTimings Default { get; } = new(
        TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5),
        TimeSpan.FromSeconds(10), 5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
}

/// <summary>What the host side does next.</summary>
public enum HostStep
{
    Idle,

    /// <summary>Connect to the guest's handshake endpoint and read its phrase (nothing is written), by the deadline.</summary>
    Probe,

    /// <summary>Open the data listener (spec §2.3 step 3); report <see cref="HostHandshake.DataListening"/>.</summary>
    ListenForData,

    /// <summary>Connect to the handshake endpoint again and write READY, by the deadline.</summary>
    SendReady,

    /// <summary>Accept the guest's data connection on the listener, by the deadline (10 s in the original).</summary>
    AcceptData,

    /// <summary>The data link is up; serve it until it drops.</summary>
    Linked,

    /// <summary>Close whatever is open and do nothing until the deadline, then report <see cref="HostHandshake.Expired"/>.</summary>
    Wait,

    /// <summary>Retries are exhausted: give up with <see cref="HostHandshake.LastFailure"/>.</summary>
    Failed,
}

public readonly record struct HostAction(HostStep Step, TimeSpan Deadline);

/// <summary>
/// The host side of the handshake (spec §2.3) as a sans-IO state machine: I/O results and the current monotonic time go
/// in, the next step and its deadline come out. Probing an absent guest is retried every probe interval until the
/// discovery timeout; a handshake that fails after a good probe (READY cannot be written, no data connection in time)
/// counts as an attempt, retried with exponential backoff up to MaxAttempts. A dropped data link starts a new round
/// with fresh counters, as the current original does (it redoes the whole handshake).
/// </summary>
public sealed class HostHandshake(HandshakeTimings timings)
{
    private TimeSpan? _probeFailingSince;
    private TimeSpan _backoff = timings.MinBackoff;

    public HandshakeTimings Timings { get; } = timings;
    public HostStep Step { get; private set; } = HostStep.Idle;
    public TimeSpan Deadline { get; private set; }

    /// <summary>The phrase the guest answered with in the last good probe.</summary>
    public SignatureKind? PeerSignature { get; private set; }

    /// <summary>Failed attempts after a good probe, in this round.</summary>
    public int FailedAttempts { get; private set; }

    /// <summary>Probes that found nothing since the last good one.</summary>
    public int FailedProbes { get; private set; }

    /// <summary>Completed handshakes since start.</summary>
    public int Handshakes { get; private set; }

    public string? LastFailure { get; private set; }

    public HostAction Start(TimeSpan now)
    {
        if (Step != HostStep.Idle) throw new InvalidOperationException($"the handshake already started (step {Step})");
        return NewRound(now);
    }

    public HostAction ProbeAnswered(SignatureKind kind, TimeSpan now)
    {
        Expect(HostStep.Probe);
        PeerSignature = kind;
        _probeFailingSince = null;
        FailedProbes = 0;
        return Go(HostStep.ListenForData, now);
    }

    public HostAction ProbeFailed(string reason, TimeSpan now)
    {
        Expect(HostStep.Probe);
        FailedProbes++;
        LastFailure = reason;
        _probeFailingSince ??= now;
        if (now - _probeFailingSince.Value >= Timings.DiscoveryTimeout)
        {
            LastFailure = $"no handshake answer within {Timings.DiscoveryTimeout.TotalSeconds:0.#} s ({FailedProbes} probes; last: {reason})";
            return Go(HostStep.Failed, now);
        }
        return Go(HostStep.Wait, now + Timings.ProbeInterval);
    }

    public HostAction DataListening(TimeSpan now)
    {
        Expect(HostStep.ListenForData);
        return Go(HostStep.SendReady, now + Timings.ConnectTimeout);
    }

    public HostAction ReadySent(TimeSpan now)
    {
        Expect(HostStep.SendReady);
        return Go(HostStep.AcceptData, now + Timings.DataAcceptTimeout);
    }

    public HostAction DataAccepted(TimeSpan now)
    {
        Expect(HostStep.AcceptData);
        Handshakes++;
        FailedAttempts = 0;
        _backoff = Timings.MinBackoff;
        LastFailure = null;
        return Go(HostStep.Linked, now);
    }

    /// <summary>A step after the good probe failed (cannot listen, READY not delivered, data connection refused or late).</summary>
    public HostAction AttemptFailed(string reason, TimeSpan now)
    {
        if (Step is not (HostStep.ListenForData or HostStep.SendReady or HostStep.AcceptData))
            throw new InvalidOperationException($"no attempt in progress (step {Step})");
        FailedAttempts++;
        LastFailure = reason;
        if (FailedAttempts >= Timings.MaxAttempts)
        {
            LastFailure = $"handshake failed {FailedAttempts} times; last: {reason}";
            return Go(HostStep.Failed, now);
        }
        var delay = _backoff;
        var next = TimeSpan.FromTicks(_backoff.Ticks * 2);
        _backoff = next > Timings.MaxBackoff ? Timings.MaxBackoff : next;
        return Go(HostStep.Wait, now + delay);
    }

    /// <summary>The data link ended: the whole handshake is done again (spec §2.3 notes, current version).</summary>
    public HostAction LinkDropped(TimeSpan now)
    {
        Expect(HostStep.Linked);
        return NewRound(now);
    }

    /// <summary>The deadline of the current step passed (a stale wake-up before it changes nothing).</summary>
    public HostAction Expired(TimeSpan now)
    {
        if (now < Deadline) return new HostAction(Step, Deadline);
        return Step switch
        {
            HostStep.Probe => ProbeFailed($"no phrase within {Timings.ConnectTimeout.TotalSeconds + Timings.SignatureTimeout.TotalSeconds:0.#} s", now),
            HostStep.SendReady => AttemptFailed($"READY not delivered within {Timings.ConnectTimeout.TotalSeconds:0.#} s", now),
            HostStep.AcceptData => AttemptFailed($"no data connection within {Timings.DataAcceptTimeout.TotalSeconds:0.#} s of READY", now),
            HostStep.Wait => Go(HostStep.Probe, now + Timings.ConnectTimeout + Timings.SignatureTimeout),
            _ => new HostAction(Step, Deadline),
        };
    }

    private HostAction NewRound(TimeSpan now)
    {
        FailedAttempts = 0;
        FailedProbes = 0;
        _probeFailingSince = null;
        _backoff = Timings.MinBackoff;
        return Go(HostStep.Probe, now + Timings.ConnectTimeout + Timings.SignatureTimeout);
    }

    private HostAction Go(HostStep step, TimeSpan deadline)
    {
        Step = step;
        Deadline = deadline;
        return new HostAction(step, deadline);
    }

    private void Expect(HostStep step)
    {
        if (Step != step) throw new InvalidOperationException($"expected step {step}, but the handshake is at {Step}");
    }
}

/// <summary>Exponential backoff with an attempt bound, sans-IO (the caller schedules the delays).</summary>
public sealed class RetryBackoff(TimeSpan min, TimeSpan max, int maxAttempts)
{
    private readonly TimeSpan _min = min;
    private TimeSpan _next = min;

    public int Attempts { get; private set; }

    public bool Exhausted => maxAttempts > 0 && Attempts >= maxAttempts;

    /// <summary>Records a failure; the delay before the next try, or null when the attempts are used up.</summary>
    public TimeSpan? Failed()
    {
        Attempts++;
        if (Exhausted) return null;
        var delay = _next;
        var doubled = TimeSpan.FromTicks(_next.Ticks * 2);
        _next = doubled > max ? max : doubled;
        return delay;
    }

    public void Reset()
    {
        Attempts = 0;
        _next = _min;
    }
}
