using Akka.Configuration;
using Akka.Dispatch;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// An executor for the dispatcher of per-connection actors (hocon <c>rdnet-inline-dispatcher</c>): an actor whose
/// message arrives while it is idle processes it at once on the sending thread — the link reader that just switched
/// the segment, or the socket completion that just finished — instead of queuing its mailbox to the thread pool and
/// waking another thread for it. One actor still runs on one thread at a time (the mailbox's own scheduling flag
/// decides who runs it; a sender that finds it running only enqueues). A thread that is already running an actor this
/// way hands any further mailbox to the thread pool, so runs never nest and the stack stays flat.
/// </summary>
public sealed class InlineExecutor(string id) : ExecutorService(id)
{
    [ThreadStatic]
    private static bool _running;

    public override void Execute(IRunnable run)
    {
        if (_running)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => ((IRunnable)r!).Run(), run);
            return;
        }
        _running = true;
        try
        {
            run.Run();
        }
        finally
        {
            _running = false;
        }
    }

    public override void Shutdown()
    {
    }
}

/// <summary>Makes an <see cref="InlineExecutor"/>; named in hocon as the dispatcher's <c>executor</c>.</summary>
public sealed class InlineExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    public override ExecutorService Produce(string id) => new InlineExecutor(id);
}
