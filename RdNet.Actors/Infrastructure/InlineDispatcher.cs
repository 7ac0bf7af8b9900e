using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Configuration;
using Akka.Dispatch;
using RdNet.Transport.Links;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// A dispatcher for actors whose messages usually come from an I/O thread that has nothing else to do: a message
/// delivered inside <see cref="RunHere"/> is processed by the delivering thread when the actor is idle — no
/// thread-pool hand-off and no wake-up of another thread. A TCP flow's guest segment (the link reader) and its host
/// socket's completion (the socket engine's thread) each take one such hand-off per direction otherwise.
/// <para>
/// Inside a link reader's <see cref="FrameLink.Burst"/> the run waits for the burst's end: all segments of one read
/// are queued first and each actor they went to then runs once over all of its own (one acknowledgement and one host
/// write per read, not per segment), before the burst's frames are written — unless it got more than
/// <see cref="MaxBurstMessagesInLine"/>, which goes to the thread pool so that a bulk transfer's reading and processing
/// overlap. Elsewhere (a socket completion) it runs before <c>Tell</c> returns.
/// </para>
/// <para>
/// Akka's mailbox rules are unchanged: an actor runs on one thread at a time and takes its messages in order. If the
/// actor is already running elsewhere the message is only queued (its running thread takes it); outside
/// <see cref="RunHere"/>, from inside another actor (whose context must not be disturbed), or when this thread is
/// already running an actor in line (no nesting, so no unbounded stacks), the mailbox goes to the thread pool as with
/// Akka's default dispatcher. A mailbox run in line processes at most <c>throughput</c> messages before the rest goes
/// to the thread pool, so one busy actor cannot keep the delivering thread.
/// </para>
/// <para>
/// While a burst's end runs its actors, what they schedule on this dispatcher joins the same run list, after them:
/// the TCP NAT taking a guest's SYN creates the connection's flow actor, whose first turn (connected on loopback
/// already: SYN-ACK) then also happens on the reader's thread, and a flow's note to the NAT is taken there too. At most
/// <see cref="MaxRunsPerBurstEnd"/> runs per burst end; beyond that, and for an actor with a bulk of messages, the
/// thread pool as before.
/// </para>
/// </summary>
public static class InlineDispatcher
{
    public const string Id = "rdnet.inline-dispatcher";

    /// <summary>Messages per mailbox run (in line or on the pool), as Akka's default dispatcher.</summary>
    public const int Throughput = 30;

    /// <summary>
    /// An actor that got more messages than this in one burst (a bulk transfer: a 64 KiB read is ~44 segments) runs on
    /// the thread pool instead, so the reader goes on reading while it works, as with Akka's default dispatcher.
    /// </summary>
    public const int MaxBurstMessagesInLine = 8;

    /// <summary>Runs one burst end takes on the reader's thread, those its actors scheduled included; the rest go to the pool.</summary>
    public const int MaxRunsPerBurstEnd = 64;

    [ThreadStatic] private static int t_allowed;
    [ThreadStatic] private static bool t_draining;
    [ThreadStatic] private static bool t_running;

    /// <summary>
    /// Messages told to actors of this dispatcher until the scope ends may be processed on this thread: before
    /// <c>Tell</c> returns, or inside a <see cref="FrameLink.Burst"/> when the burst ends. The caller must hold no lock
    /// those actors could need and must be ready to spend their time.
    /// </summary>
    public static Scope RunHere()
    {
        t_allowed++;
        return new Scope(true);
    }

    public readonly struct Scope(bool open) : IDisposable
    {
        public void Dispose()
        {
            if (open) t_allowed--;
        }
    }

    /// <summary>Registers the dispatcher with <paramref name="system"/> (once; later calls do nothing) and returns its id for <c>Props.WithDispatcher</c>.</summary>
    public static string Ensure(ActorSystem system)
    {
        var dispatchers = system.Dispatchers;
        if (!dispatchers.HasDispatcher(Id))
        {
            var config = ConfigurationFactory.ParseString($"id = \"{Id}\"\nthroughput = {Throughput}")
                .WithFallback(dispatchers.DefaultDispatcherConfig);
            dispatchers.RegisterConfigurator(Id, new Configurator(config, dispatchers.Prerequisites));
        }
        return Id;
    }

    private sealed class Configurator : MessageDispatcherConfigurator
    {
        private readonly Dispatcher _instance;

        public Configurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites) =>
            _instance = new Dispatcher(this, Id, Throughput, null, new ExecutorFactory(), config.GetTimeSpan("shutdown-timeout", TimeSpan.FromSeconds(1)));

        public override MessageDispatcher Dispatcher() => _instance;
    }

    private sealed class ExecutorFactory : ExecutorServiceFactory
    {
        public override ExecutorService Produce(string id) => new Executor(id);
    }

    private sealed class Executor(string id) : ExecutorService(id)
    {
        public override void Execute(IRunnable run)
        {
            if (t_draining && t_deferred!.Count < MaxRunsPerBurstEnd)
            {
                // Scheduled by an actor this burst end is running (a new child, a note to its parent): it runs next,
                // on this thread, after the current run — never inside it.
                t_deferred.Add(run);
                return;
            }
            if (t_allowed > 0 && !t_running && InternalCurrentActorCellKeeper.Current is null)
            {
                if (FrameLink.InBurst)
                {
                    // A link reader's batch: every segment of it is queued first, then each actor it touched runs once.
                    var deferred = t_deferred ??= new List<IRunnable>(4);
                    deferred.Add(run);
                    if (deferred.Count == 1) FrameLink.AtEndOfBurst(s_runDeferred);
                    return;
                }
                RunNow(run);
                return;
            }
            ThreadPool.UnsafeQueueUserWorkItem(run, preferLocal: false);
        }

        public override void Shutdown()
        {
            // Nothing of its own to stop: runs are on their callers' threads or on the shared thread pool.
        }
    }

    [ThreadStatic] private static List<IRunnable>? t_deferred;
    private static readonly Action s_runDeferred = RunDeferred;

    private static void RunDeferred()
    {
        var deferred = t_deferred!;
        int i = 0;
        t_draining = true;
        try
        {
            for (; i < deferred.Count; i++)
            {
                var run = deferred[i];
                if (InternalCurrentActorCellKeeper.Current is null && (run is not Mailbox m || m.MessageQueue.Count <= MaxBurstMessagesInLine)) RunNow(run);
                else ThreadPool.UnsafeQueueUserWorkItem(run, preferLocal: false);
            }
        }
        finally
        {
            t_draining = false;
            // Scheduled mailboxes must run somewhere: if one run threw, the rest go to the pool.
            for (i++; i < deferred.Count; i++) ThreadPool.UnsafeQueueUserWorkItem(deferred[i], preferLocal: false);
            deferred.Clear();
        }
    }

    private static void RunNow(IRunnable run)
    {
        t_running = true;
        try
        {
            run.Run();
        }
        finally
        {
            t_running = false;
            InternalCurrentActorCellKeeper.Current = null;
        }
    }
}
