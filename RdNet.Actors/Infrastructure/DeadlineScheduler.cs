using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// Akka's scheduler for rdnet (<c>akka.scheduler.implementation</c> in hocon/akka.hocon): one thread of its own that
/// sleeps until the earliest deadline, instead of a wheel that ticks every 10 ms whether anything is due or not.
/// Akka 1.5's wheel ticks as a thread-pool work item, and the worker that ran it spins before it sleeps: an idle
/// host-switch or vm-switch used ~7 % of a core and ~13,000 context switches a second on it, and under traffic that
/// spinning competes with the frames for the CPUs.
/// </summary>
/// <remarks>
/// A new deadline wakes the thread only when it is more than <see cref="Slack"/> earlier than the thread's current
/// wake-up, so re-arming short timers (a delayed ACK per request) does not cost a wake-up each: like the wheel, a timer
/// may fire up to <see cref="Slack"/> late, never early. Cancelled entries are dropped when they come due. Actions run
/// on the scheduler's thread (they are Tells and short callbacks); one that throws is logged and the others go on.
/// </remarks>
public sealed class DeadlineScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    /// <summary>How late a timer may fire so that arming it need not wake the thread (the wheel's tick).</summary>
    public static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(10);

    private const long Never = long.MaxValue;
    private static readonly long SlackTicks = (long)(Slack.TotalSeconds * Stopwatch.Frequency);

    private readonly ConcurrentQueue<Entry> _incoming = new();
    private readonly PriorityQueue<Entry, long> _due = new(); // only the scheduler thread touches it
    private readonly object _gate = new();
    private readonly Thread _thread;
    private long _wakeAt = Never; // when the thread will wake on its own (Stopwatch ticks); Never while it waits for work
    private bool _signalled;
    private volatile bool _stopped;

    public DeadlineScheduler(Config config, ILoggingAdapter log) : base(config, log)
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "akka-scheduler" };
        _thread.Start();
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;
    public override TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(s_started);
    public override TimeSpan HighResMonotonicClock => Stopwatch.GetElapsedTime(s_started);
    private static readonly long s_started = Stopwatch.GetTimestamp();

    /// <summary>Entries waiting (armed, including cancelled ones not yet due): for tests and diagnostics.</summary>
    public int Pending => Volatile.Read(ref _pendingCount);
    private int _pendingCount;

    /// <summary>How many new entries had to wake the thread: for tests and diagnostics.</summary>
    public long Signals => Interlocked.Read(ref _signals);
    private long _signals;

    /// <summary>How many times the thread has woken (a signal or a deadline): for tests and diagnostics.</summary>
    public long Wakeups => Interlocked.Read(ref _wakeups);
    private long _wakeups;

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(new Entry(delay, TimeSpan.Zero, cancelable) { Receiver = receiver, Message = message, Sender = sender });

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(new Entry(initialDelay, interval, cancelable) { Receiver = receiver, Message = message, Sender = sender });

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Add(new Entry(delay, TimeSpan.Zero, cancelable) { Action = action });

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Add(new Entry(delay, TimeSpan.Zero, cancelable) { Runnable = action });

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Add(new Entry(initialDelay, interval, cancelable) { Action = action });

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Add(new Entry(initialDelay, interval, cancelable) { Runnable = action });

    private void Add(Entry entry)
    {
        if (_stopped) throw new SchedulerException("the scheduler has been shut down");
        Interlocked.Increment(ref _pendingCount);
        _incoming.Enqueue(entry);
        // Wake the thread only if it would otherwise be more than Slack late for this entry.
        if (entry.Due + SlackTicks < Volatile.Read(ref _wakeAt))
        {
            Interlocked.Increment(ref _signals);
            lock (_gate)
            {
                _signalled = true;
                Monitor.Pulse(_gate);
            }
        }
    }

    private void Run()
    {
        while (!_stopped)
        {
            while (_incoming.TryDequeue(out var added)) _due.Enqueue(added, added.Due);
            long now = Stopwatch.GetTimestamp();
            while (_due.TryPeek(out var head, out var due) && due <= now)
            {
                _due.Dequeue();
                Fire(head, now);
            }
            long next = _due.TryPeek(out _, out var nextDue) ? nextDue : Never;
            lock (_gate)
            {
                Volatile.Write(ref _wakeAt, next);
                // An entry added after the drain above but before _wakeAt was published may not have signalled.
                if (!_signalled && _incoming.IsEmpty && !_stopped)
                {
                    if (next == Never) Monitor.Wait(_gate);
                    else
                    {
                        // Rounded up to whole milliseconds (never early); at most an hour at a time (Monitor.Wait's limit is ~24 days).
                        double ms = Math.Ceiling((next - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency);
                        if (ms > 0) Monitor.Wait(_gate, (int)Math.Min(ms, 3_600_000));
                    }
                }
                _signalled = false;
                Interlocked.Increment(ref _wakeups);
                Volatile.Write(ref _wakeAt, 0); // awake: new entries are seen on the next pass without a signal
            }
        }
    }

    private void Fire(Entry entry, long now)
    {
        if (entry.Cancelable is { IsCancellationRequested: true })
        {
            Interlocked.Decrement(ref _pendingCount);
            return;
        }
        try
        {
            if (entry.Receiver is { } receiver) receiver.Tell(entry.Message!, entry.Sender);
            else if (entry.Runnable is { } runnable) runnable.Run();
            else entry.Action!();
        }
        catch (Exception e)
        {
            Log.Error(e, "A scheduled action failed");
        }
        if (entry.Interval > TimeSpan.Zero && !_stopped && entry.Cancelable is not { IsCancellationRequested: true })
        {
            // Fixed rate, but a thread that fell behind does not fire a burst to catch up.
            long step = (long)(entry.Interval.TotalSeconds * Stopwatch.Frequency);
            entry.Due = Math.Max(entry.Due + step, now + step / 2);
            _due.Enqueue(entry, entry.Due);
        }
        else
        {
            Interlocked.Decrement(ref _pendingCount);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.Pulse(_gate);
        }
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(5));
    }

    private sealed class Entry(TimeSpan delay, TimeSpan interval, ICancelable? cancelable)
    {
        public long Due = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        public readonly TimeSpan Interval = interval;
        public readonly ICancelable? Cancelable = cancelable;
        public ICanTell? Receiver;
        public object? Message;
        public IActorRef? Sender;
        public Action? Action;
        public IRunnable? Runnable;
    }
}
