using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;

namespace RdNet.Actors.Tests.Infrastructure;

/// <summary>The dispatcher of the connection actors (rdnet-inline-dispatcher, as in hocon/rdnet.hocon).</summary>
public sealed class InlineExecutorTests() : TestKit(ConfigurationFactory.ParseString("""
    rdnet-inline-dispatcher {
      type = Dispatcher
      executor = "RdNet.Actors.Infrastructure.InlineExecutorConfigurator, RdNet.Actors"
      throughput = 64
    }
    """))
{
    private const string Dispatcher = "rdnet-inline-dispatcher";

    private sealed record WhichThread;
    private sealed record Count(int Value);
    private sealed record GetTotal;
    private sealed record Ping(int Left, IActorRef ReplyTo);

    /// <summary>Answers with the thread it runs on; counts and checks that it never runs on two threads at once.</summary>
    private sealed class Probe : ReceiveActor
    {
        private int _inside;
        private long _total;
        private bool _overlapped;
        private int _deepestStack;

        public Probe()
        {
            Receive<WhichThread>(_ => Sender.Tell(Environment.CurrentManagedThreadId));
            Receive<Count>(c =>
            {
                if (Interlocked.Exchange(ref _inside, 1) != 0) _overlapped = true;
                _total += c.Value;
                if (_total % 97 == 0) _deepestStack = Math.Max(_deepestStack, new System.Diagnostics.StackTrace().FrameCount);
                Thread.SpinWait(50);
                Volatile.Write(ref _inside, 0);
            });
            Receive<GetTotal>(_ => Sender.Tell((_total, _overlapped, _deepestStack)));
            Receive<Ping>(p =>
            {
                if (p.Left == 0) p.ReplyTo.Tell("done");
                else Sender.Tell(p with { Left = p.Left - 1 }, Self);
            });
        }
    }

    [Fact]
    public void An_idle_actor_runs_its_message_on_the_thread_that_sent_it()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Probe()).WithDispatcher(Dispatcher));
        var probe = CreateTestProbe();
        actor.Tell(new WhichThread(), probe); // the Create has run by now on this thread or another: wait for the answer
        probe.ExpectMsg<int>();
        int sender = -1;
        var thread = new Thread(() =>
        {
            sender = Environment.CurrentManagedThreadId;
            actor.Tell(new WhichThread(), probe);
        });
        thread.Start();
        thread.Join();
        Assert.Equal(sender, probe.ExpectMsg<int>());
    }

    [Fact]
    public async Task Senders_on_many_threads_never_run_one_actor_twice_at_once_nothing_is_lost_and_runs_do_not_nest()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Probe()).WithDispatcher(Dispatcher));
        const int threads = 4, each = 20_000;
        var senders = Enumerable.Range(0, threads).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < each; i++) actor.Tell(new Count(1));
        })).ToArray();
        await Task.WhenAll(senders);
        await AwaitAssertAsync(async () =>
        {
            var (total, overlapped, deepest) = await actor.Ask<(long, bool, int)>(new GetTotal(), TimeSpan.FromSeconds(3));
            Assert.False(overlapped);
            Assert.Equal((long)threads * each, total);
            // A mailbox that still holds messages after its turn registers again; run in line from inside the turn
            // that just ended, every 64 messages would add frames to the sender's stack.
            Assert.InRange(deepest, 1, 120);
        }, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void Two_actors_sending_to_each_other_keep_going()
    {
        var a = Sys.ActorOf(Props.Create(() => new Probe()).WithDispatcher(Dispatcher));
        var b = Sys.ActorOf(Props.Create(() => new Probe()).WithDispatcher(Dispatcher));
        var probe = CreateTestProbe();
        a.Tell(new Ping(200_000, probe), b);
        probe.ExpectMsg("done", TimeSpan.FromSeconds(30));
    }
}
