using System.CommandLine;
using RdNet.Cli;
using RdNet.Cli.Commands;

// Before any socket exists: socket completions run on the epoll threads (see InlineSocketCompletions).
RdNet.Cli.Hosting.InlineSocketCompletions.Apply();

// A child of rdnet up stops with it, even when rdnet up is SIGKILLed (before anything else, see ParentDeath).
if (!RdNet.Transport.Linux.ParentDeath.TryApplyFromEnvironment(out var parentError))
{
    Console.Error.WriteLine($"rdnet: {parentError}; exiting");
    return 1;
}

// rdnet run's command, started through this exec shim so that it has a parent-death signal too (see ExecShim).
if (args.Length > 0 && args[0] == RdNet.Cli.Local.ExecShim.Verb)
    return RdNet.Cli.Local.ExecShim.Run(args[1..]);

var args2 = GoStyleArgs.Normalize(args);
if (GoStyleArgs.RoleFromArgv0(GoStyleArgs.ReadArgv0()) is { } role)
    args2 = [role, .. args2];

var root = new RootCommand("rdnet: a user-mode network switch for VMs and network namespaces (Rancher Desktop Networking, re-implemented)")
{
    HostSwitchCommand.Create(),
    VmSwitchCommand.Create(),
    NetworkSetupCommand.Create(),
    WslProxyCommand.Create(),
    UpCommand.Create(args2),
    RunCommand.Create(args2),
    StatsCommand.Create(),
    ForwardCommand.Create(),
};
// Signals are handled by the generic host (CoordinatedShutdown), not by System.CommandLine.
return await root.Parse(args2).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
