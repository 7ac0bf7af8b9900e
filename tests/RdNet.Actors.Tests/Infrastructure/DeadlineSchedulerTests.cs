using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Infrastructure;

namespace RdNet.Actors.Tests.Infrastructure;

/// <summary>
/// The scheduler that sleeps until its next deadline: never early, at most its slack late (plus a loaded machine's
/// scheduling), cancelled entries never run, repeats repeat, a failing action does not stop the others, nothing wakes it
/// when nothing is due, and re-arming a short timer does not wake it each time.
/// </summary>
public sealed class DeadlineSchedulerTests : IDisposable
{
    private static readonly TimeSpan Late = TimeSpan.FromSeconds(2); // how late a loaded 2-core CI runner may be

    private readonly DeadlineScheduler _scheduler = new(ConfigurationFactory.Empty, NoLogger.Instance);
    private IScheduler Scheduler => _scheduler;

    public void Dispose() => _scheduler.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(250)]
    public void A_timer_fires_once_never_before_its_delay(int delayMs)
    {
        var fired = new ConcurrentQueue<TimeSpan>();
        var clock = Stopwatch.StartNew();
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(delayMs), () => fired.Enqueue(clock.Elapsed));
        SpinWait.SpinUntil(() => !fired.IsEmpty, TimeSpan.FromMilliseconds(delayMs) + Late);
        Thread.Sleep(delayMs + 50);
        var at = Assert.Single(fired);
        Assert.InRange(at, TimeSpan.FromMilliseconds(delayMs), TimeSpan.FromMilliseconds(delayMs) + Late);
        Assert.Equal(0, _scheduler.Pending);
    }

    [Fact]
    public void An_earlier_deadline_armed_while_the_thread_sleeps_towards_a_later_one_fires_on_time()
    {
        var fired = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromSeconds(30), () => fired.Enqueue("late"));
        Thread.Sleep(50); // the thread is now asleep until +30 s
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(100), () => fired.Enqueue("early"));
        Assert.True(SpinWait.SpinUntil(() => !fired.IsEmpty, Late + TimeSpan.FromMilliseconds(150)), "the earlier deadline waited for the later one");
        Assert.Equal(["early"], fired);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(150) + Late);
    }

    [Fact]
    public void A_cancelled_timer_never_runs_and_is_dropped_when_it_comes_due()
    {
        var fired = 0;
        var cancel = new Cancelable(Scheduler);
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(50), () => Interlocked.Increment(ref fired), cancel);
        cancel.Cancel();
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(100), () => Interlocked.Increment(ref fired));
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref fired) == 1, Late));
        Assert.True(SpinWait.SpinUntil(() => _scheduler.Pending == 0, Late));
        Assert.Equal(1, Volatile.Read(ref fired));
    }

    [Fact]
    public void A_repeated_timer_repeats_at_its_interval_until_cancelled()
    {
        var times = new ConcurrentQueue<TimeSpan>();
        var cancel = new Cancelable(Scheduler);
        var clock = Stopwatch.StartNew();
        Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(40), () => times.Enqueue(clock.Elapsed), cancel);
        Assert.True(SpinWait.SpinUntil(() => times.Count >= 5, Late + TimeSpan.FromMilliseconds(200)));
        cancel.Cancel();
        Thread.Sleep(150);
        var count = times.Count;
        Thread.Sleep(200);
        Assert.Equal(count, times.Count);
        // the n-th run comes no earlier than 20 + 40·(n-1) ms
        var runs = times.ToArray();
        for (int n = 0; n < runs.Length; n++) Assert.True(runs[n] >= TimeSpan.FromMilliseconds(20 + 40 * n), $"run {n} at {runs[n]}");
        Assert.True(SpinWait.SpinUntil(() => _scheduler.Pending == 0, Late));
    }

    [Fact]
    public void A_failing_action_is_logged_and_the_others_still_run()
    {
        var fired = 0;
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => throw new InvalidOperationException("injected fault"));
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => Interlocked.Increment(ref fired));
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(30), () => Interlocked.Increment(ref fired));
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref fired) == 2, Late));
    }

    [Fact]
    public void Nothing_wakes_the_thread_when_nothing_is_due()
    {
        Thread.Sleep(100);
        var before = _scheduler.Wakeups;
        Thread.Sleep(1000);
        Assert.Equal(before, _scheduler.Wakeups); // Akka's wheel would have ticked ~100 times
        Scheduler.Advanced.ScheduleOnce(TimeSpan.FromHours(1), () => { });
        Thread.Sleep(500);
        Assert.InRange(_scheduler.Wakeups - before, 0, 2); // one signal to sleep towards the new deadline instead
    }

    [Fact]
    public void Re_arming_a_short_timer_does_not_wake_the_thread_each_time()
    {
        // As an actor's delayed-ACK timer is armed and cancelled once per request.
        Thread.Sleep(100);
        var before = _scheduler.Wakeups;
        var signalsBefore = _scheduler.Signals;
        var fired = 0;
        for (int i = 0; i < 2000; i++)
        {
            var cancel = new Cancelable(Scheduler);
            Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => Interlocked.Increment(ref fired), cancel);
            cancel.Cancel();
            if (i % 100 == 0) Thread.Sleep(1);
        }
        Assert.True(SpinWait.SpinUntil(() => _scheduler.Pending == 0, Late));
        Assert.Equal(0, Volatile.Read(ref fired));
        // The first arm wakes the idle thread; later ones fall within the slack of its wake-up, or of the next one.
        Assert.True(_scheduler.Signals - signalsBefore < 20, $"{_scheduler.Signals - signalsBefore} signals for 2,000 arms");
        Assert.True(_scheduler.Wakeups - before < 200, $"{_scheduler.Wakeups - before} wake-ups for 2,000 arms");
    }

    [Fact]
    public void Nothing_can_be_scheduled_after_shutdown()
    {
        _scheduler.Dispose();
        Assert.Throws<SchedulerException>(() => Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, () => { }));
    }
}

/// <summary>An actor system running on <see cref="DeadlineScheduler"/> (as every rdnet role does, hocon/akka.hocon): actor timers and asks.</summary>
public sealed class DeadlineSchedulerActorTests() : TestKit(ConfigurationFactory.ParseString(
    """akka.scheduler.implementation = "RdNet.Actors.Infrastructure.DeadlineScheduler, RdNet.Actors" """))
{
    private sealed class Ticker : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public Ticker(IActorRef probe)
        {
            Receive<string>(s => s == "start", _ =>
            {
                Timers.StartSingleTimer("once", "once", TimeSpan.FromMilliseconds(50));
                Timers.StartSingleTimer("replaced", "first", TimeSpan.FromMilliseconds(30));
                Timers.StartSingleTimer("replaced", "second", TimeSpan.FromMilliseconds(60));
                Timers.StartPeriodicTimer("tick", "tick", TimeSpan.FromMilliseconds(20));
            });
            Receive<string>(s => s == "tick", _ =>
            {
                probe.Tell("tick");
                Timers.Cancel("tick");
            });
            Receive<string>(s => probe.Tell(s));
        }
    }

    [Fact]
    public async Task Actor_timers_fire_replace_and_cancel_and_asks_time_out()
    {
        Assert.IsType<DeadlineScheduler>(Sys.Scheduler);
        var ticker = Sys.ActorOf(Props.Create(() => new Ticker(TestActor)));
        ticker.Tell("start");
        var got = new HashSet<string>();
        for (int i = 0; i < 3; i++) got.Add(ExpectMsg<string>(TimeSpan.FromSeconds(5)));
        Assert.Equal(["once", "second", "tick"], got.Order());
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // "first" was replaced, the periodic tick cancelled after one
        var silent = Sys.ActorOf(Props.Create(() => new Ticker(ActorRefs.Nobody)));
        var ask = Assert.ThrowsAsync<AskTimeoutException>(() => silent.Ask<int>(42, TimeSpan.FromMilliseconds(100)));
        Assert.Same(ask, await Task.WhenAny(ask, Task.Delay(TimeSpan.FromSeconds(5))));
        await ask;
    }
}
