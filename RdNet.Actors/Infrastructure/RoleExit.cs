using Akka.Actor;
using Akka.Event;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// How a role's root actor ends the process on a fatal condition: it records the exit code and runs
/// CoordinatedShutdown; the CLI returns the recorded code once the actor system has terminated.
/// </summary>
public sealed class RoleExit
{
    private int _code;

    public int Code => Volatile.Read(ref _code);

    /// <summary>The first fatal reason, for the last log line before exit.</summary>
    public string? Reason { get; private set; }

    public void Fail(ActorSystem system, int code, string reason)
    {
        if (Interlocked.CompareExchange(ref _code, code, 0) == 0) Reason = reason;
        system.Log.Error("Fatal: {0}; shutting down with exit code {1}", reason, code);
        _ = CoordinatedShutdown.Get(system).Run(new FatalReason(reason, code));
    }

    public sealed class FatalReason(string reason, int exitCode) : CoordinatedShutdown.Reason
    {
        public override int ExitCode => exitCode;

        public override string ToString() => reason;
    }
}
