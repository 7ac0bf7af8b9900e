using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Infrastructure;
using RdNet.Transport.Links;

namespace RdNet.Actors.Tests.Infrastructure;

/// <summary>
/// The dispatcher that lets an I/O thread run an idle actor's message itself: in line only inside
/// <see cref="InlineDispatcher.RunHere"/>, never inside another actor, never nested, never two threads in one actor,
/// every sender's order kept, and failures supervised as on any dispatcher.
/// </summary>
public sealed class InlineDispatcherTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private sealed record Where(int ThreadId, bool OnPool, string Tag);

    /// <summary>Answers every string with the thread it ran on; "boom" then throws.</summary>
    private sealed class Recorder : ReceiveActor
    {
        public Recorder(IActorRef probe)
        {
            probe.Tell("started");
            Receive<string>(s =>
            {
                probe.Tell(new Where(Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, s));
                if (s == "boom") throw new InvalidOperationException("injected fault");
            });
        }
    }

    /// <summary>
    /// A recorder on the inline dispatcher, started and idle: its start-up run happens on the pool and may still be
    /// finishing when "started" arrives (a message then only queues), so it is told from fresh threads until one such
    /// message runs in line; after that run it is idle, and every later test step is deterministic.
    /// </summary>
    private IActorRef InlineRecorder()
    {
        var recorder = Sys.ActorOf(Props.Create(() => new Recorder(TestActor)).WithDispatcher(InlineDispatcher.Ensure(Sys)));
        ExpectMsg("started", Wait);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int thread = OnOwnThread(() =>
            {
                using (InlineDispatcher.RunHere()) recorder.Tell("warm-up");
            });
            if (ExpectMsg<Where>(Wait).ThreadId == thread) return recorder;
            Thread.Sleep(10);
        }
        throw new Xunit.Sdk.XunitException("an idle actor never ran in line on the thread that told it");
    }

    /// <summary>Runs <paramref name="action"/> on a thread of its own (not the pool's) and returns that thread's id.</summary>
    private static int OnOwnThread(Action action)
    {
        int id = 0;
        var t = new Thread(() =>
        {
            id = Environment.CurrentManagedThreadId;
            action();
        });
        t.Start();
        Assert.True(t.Join(Wait));
        return id;
    }

    [Fact]
    public void Inside_RunHere_an_idle_actor_takes_the_message_on_the_telling_thread_before_Tell_returns()
    {
        var recorder = InlineRecorder();
        bool answeredBeforeTellReturned = false;
        int thread = OnOwnThread(() =>
        {
            using (InlineDispatcher.RunHere()) recorder.Tell("hello");
            answeredBeforeTellReturned = HasMessages;
        });
        var where = ExpectMsg<Where>(Wait);
        Assert.Equal(thread, where.ThreadId);
        Assert.True(answeredBeforeTellReturned);
    }

    [Fact]
    public void Inside_a_link_readers_burst_the_actor_runs_once_its_messages_are_all_queued_at_the_end_of_the_burst()
    {
        var recorder = InlineRecorder();
        bool ranDuringBurst = true, ranByBurstEnd = false;
        int thread = OnOwnThread(() =>
        {
            using (FrameLink.Burst())
            {
                for (int i = 0; i < 3; i++)
                    using (InlineDispatcher.RunHere()) recorder.Tell($"segment {i}");
                ranDuringBurst = HasMessages;
            }
            ranByBurstEnd = HasMessages;
        });
        Assert.False(ranDuringBurst, "the actor ran before the burst ended");
        Assert.True(ranByBurstEnd, "the actor had not run when the burst ended");
        for (int i = 0; i < 3; i++)
        {
            var where = ExpectMsg<Where>(Wait);
            Assert.Equal($"segment {i}", where.Tag);
            Assert.Equal(thread, where.ThreadId);
        }
    }

    [Fact]
    public void An_actor_that_got_a_bulk_burst_runs_on_the_thread_pool_so_the_reader_goes_on()
    {
        var recorder = InlineRecorder();
        const int bulk = InlineDispatcher.MaxBurstMessagesInLine + 1;
        int thread = OnOwnThread(() =>
        {
            using (FrameLink.Burst())
                for (int i = 0; i < bulk; i++)
                    using (InlineDispatcher.RunHere()) recorder.Tell($"segment {i}");
        });
        for (int i = 0; i < bulk; i++)
        {
            var where = ExpectMsg<Where>(Wait);
            Assert.Equal($"segment {i}", where.Tag);
            Assert.NotEqual(thread, where.ThreadId);
        }
    }

    /// <summary>Reports its first turn (construction) with the thread it ran on.</summary>
    private sealed class Child : ReceiveActor
    {
        public Child(IActorRef probe) =>
            probe.Tell(new Where(Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, "started"));
    }

    /// <summary>On an int N, creates N children on the inline dispatcher, then reports "spawned" with its thread.</summary>
    private sealed class Spawner : ReceiveActor
    {
        public Spawner(IActorRef probe) => Receive<int>(n =>
        {
            for (int i = 0; i < n; i++)
                Context.ActorOf(Props.Create(() => new Child(probe)).WithDispatcher(InlineDispatcher.Id));
            probe.Tell(new Where(Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, "spawned"));
        });
    }

    [Fact]
    public void At_a_bursts_end_a_child_created_there_takes_its_first_turn_next_on_the_same_thread()
    {
        var probe = CreateTestProbe();
        var spawner = Sys.ActorOf(Props.Create(() => new Spawner(probe.Ref)).WithDispatcher(InlineDispatcher.Ensure(Sys)));
        // The spawner's own start-up run is on the pool; retry until a burst's end runs it in line.
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int thread = OnOwnThread(() =>
            {
                using (FrameLink.Burst())
                    using (InlineDispatcher.RunHere()) spawner.Tell(1);
            });
            var spawned = probe.ExpectMsg<Where>(Wait);
            var child = probe.ExpectMsg<Where>(Wait);
            Assert.Equal("spawned", spawned.Tag); // the child ran after its parent's turn, never inside it
            Assert.Equal("started", child.Tag);
            if (spawned.ThreadId != thread)
            {
                Thread.Sleep(10);
                continue;
            }
            Assert.Equal(thread, child.ThreadId);
            return;
        }
        throw new Xunit.Sdk.XunitException("the spawner never ran in line at a burst's end");
    }

    [Fact]
    public void A_bursts_end_takes_at_most_its_bound_of_runs_and_the_rest_go_to_the_thread_pool()
    {
        var probe = CreateTestProbe();
        var spawner = Sys.ActorOf(Props.Create(() => new Spawner(probe.Ref)).WithDispatcher(InlineDispatcher.Ensure(Sys)));
        const int children = InlineDispatcher.MaxRunsPerBurstEnd + 10;
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int thread = OnOwnThread(() =>
            {
                using (FrameLink.Burst())
                    using (InlineDispatcher.RunHere()) spawner.Tell(children);
            });
            var spawned = probe.ExpectMsg<Where>(Wait);
            var started = Enumerable.Range(0, children).Select(_ => probe.ExpectMsg<Where>(Wait)).ToList();
            if (spawned.ThreadId != thread)
            {
                Thread.Sleep(10);
                continue;
            }
            // The spawner's run was the first of the list: its children fill the rest of the bound.
            Assert.Equal(InlineDispatcher.MaxRunsPerBurstEnd - 1, started.Count(w => w.ThreadId == thread));
            Assert.All(started.Where(w => w.ThreadId != thread), w => Assert.True(w.OnPool));
            return;
        }
        throw new Xunit.Sdk.XunitException("the spawner never ran in line at a burst's end");
    }

    [Fact]
    public void Outside_RunHere_the_actor_runs_on_the_thread_pool()
    {
        var recorder = InlineRecorder();
        int thread = OnOwnThread(() => recorder.Tell("hello"));
        var where = ExpectMsg<Where>(Wait);
        Assert.NotEqual(thread, where.ThreadId);
        Assert.True(where.OnPool);
    }

    /// <summary>Tells the recorder inside RunHere from its own turn, then uses its own context.</summary>
    private sealed class Teller(IActorRef recorder) : UntypedActor
    {
        protected override void OnReceive(object message)
        {
            using (InlineDispatcher.RunHere()) recorder.Tell("from an actor");
            // Running the recorder here would have taken this actor's context with it.
            Sender.Tell(Self.Path.Name);
        }
    }

    [Fact]
    public void From_inside_another_actor_the_message_is_queued_and_that_actors_context_stays_intact()
    {
        var recorder = InlineRecorder();
        var sender = Sys.ActorOf(Props.Create(() => new Teller(recorder)), "teller");
        var reply = CreateTestProbe();
        sender.Tell("go", reply.Ref);
        Assert.Equal("teller", reply.ExpectMsg<string>(Wait));
        Assert.True(ExpectMsg<Where>(Wait).OnPool);
    }

    /// <summary>On each int, reports how many Chain turns this thread is inside, then tells the next actor (if any) inside RunHere.</summary>
    private sealed class Chain : ReceiveActor
    {
        [ThreadStatic] private static int t_depth;

        public Chain(IActorRef? next, IActorRef probe)
        {
            Receive<int>(n =>
            {
                t_depth++;
                try
                {
                    probe.Tell(t_depth);
                    if (next is not null)
                        using (InlineDispatcher.RunHere()) next.Tell(n + 1);
                }
                finally
                {
                    t_depth--;
                }
            });
        }
    }

    [Fact]
    public void An_actor_running_in_line_does_not_run_another_one_inside_its_turn()
    {
        var id = InlineDispatcher.Ensure(Sys);
        var last = Sys.ActorOf(Props.Create(() => new Chain(null, TestActor)).WithDispatcher(id));
        var first = Sys.ActorOf(Props.Create(() => new Chain(last, TestActor)).WithDispatcher(id));
        OnOwnThread(() =>
        {
            using (InlineDispatcher.RunHere()) first.Tell(1);
        });
        // Each turn saw a depth of 1: the second actor ran after the first one's turn, not inside it.
        Assert.Equal(1, ExpectMsg<int>(Wait));
        Assert.Equal(1, ExpectMsg<int>(Wait));
    }

    private sealed record Numbered(int Sender, int Seq);

    private sealed record Check;

    /// <summary>Fails the run if two threads are ever inside it at once or a sender's numbers arrive out of order.</summary>
    private sealed class OrderChecker : ReceiveActor
    {
        private int _inside;
        private readonly Dictionary<int, int> _last = new();
        private long _count;
        private string? _error;

        public OrderChecker()
        {
            Receive<Numbered>(m =>
            {
                if (Interlocked.Exchange(ref _inside, 1) != 0) _error ??= "two threads in the actor at once";
                if (_last.TryGetValue(m.Sender, out var prev) && m.Seq != prev + 1) _error ??= $"sender {m.Sender}: {m.Seq} after {prev}";
                _last[m.Sender] = m.Seq;
                _count++;
                Thread.SpinWait(50); // widen the window a second thread would need
                Volatile.Write(ref _inside, 0);
            });
            Receive<Check>(_ => Sender.Tell((_count, _error ?? "")));
        }
    }

    [Fact]
    public async Task One_actor_never_runs_on_two_threads_and_keeps_every_senders_order()
    {
        var checker = Sys.ActorOf(Props.Create(() => new OrderChecker()).WithDispatcher(InlineDispatcher.Ensure(Sys)));
        const int threads = 4, each = 5000;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < each; i++)
            {
                if (((i / 7) + t) % 2 == 0) // runs of seven in line, then seven queued
                    using (InlineDispatcher.RunHere()) checker.Tell(new Numbered(t, i));
                else checker.Tell(new Numbered(t, i));
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.True(w.Join(Wait)));
        var (count, error) = await checker.Ask<(long, string)>(new Check(), Wait);
        Assert.Equal("", error);
        Assert.Equal(threads * each, count);
    }

    [Fact]
    public void An_actor_that_fails_in_line_is_restarted_by_its_supervisor_and_the_telling_thread_sees_nothing()
    {
        var recorder = InlineRecorder();
        Exception? thrown = null;
        int thread = OnOwnThread(() =>
        {
            try
            {
                using (InlineDispatcher.RunHere()) recorder.Tell("boom");
            }
            catch (Exception e)
            {
                thrown = e;
            }
        });
        Assert.Null(thrown);
        Assert.Equal(thread, ExpectMsg<Where>(Wait).ThreadId); // it did fail on the telling thread
        ExpectMsg("started", Wait); // the default strategy restarted it
        OnOwnThread(() =>
        {
            using (InlineDispatcher.RunHere()) recorder.Tell("after");
        });
        Assert.Equal("after", ExpectMsg<Where>(Wait).Tag);
    }
}
