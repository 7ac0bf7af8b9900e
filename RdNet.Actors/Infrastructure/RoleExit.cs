using Akka.Actor;

namespace RdNet.Actors.Infrastructure;

/// <summary>
/// How a role's root actor ends the process on a fatal condition: it records the exit code and runs
/// CoordinatedShutdown; the CLI returns the recorded code once the actor system has terminated.
/// </summary>
public sealed class RoleExit
{
    private int _code;

    public int Code => Volatile.Read(ref _code);

    public void Fail(ActorSystem system, int code, string reason)
    {
        Interlocked.CompareExchange(ref _code, code, 0);
        _ = CoordinatedShutdown.Get(system).Run(new FatalReason(reason, code));
    }

    public sealed class FatalReason(string reason, int exitCode) : CoordinatedShutdown.Reason
    {
        public override int ExitCode => exitCode;

        public override string ToString() => reason;
    }
}
