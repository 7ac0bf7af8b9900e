using System.CommandLine;
using System.Runtime.InteropServices;
using RdNet.Cli.Hosting;
using RdNet.Cli.Local;
using RdNet.Transport.Linux;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet up</c>: host-switch and network-setup on this machine, wired over unix sockets, and a named namespace whose
/// traffic goes vm-switch → link → host-switch; runs until SIGINT/SIGTERM, then removes everything it created.
/// </summary>
internal static class UpCommand
{
    public static Command Create(IReadOnlyList<string> argv)
    {
        var cmd = new Command("up", "Start the whole stack on this machine: a namespace (default 'rdnet', enter it with ip netns exec rdnet …) wired through vm-switch to host-switch. Runs until Ctrl-C, then removes everything it created. Options of host-switch and network-setup (--subnet, --dns-upstream, --outbound-allow, --mtu, --debug, …) are passed on.")
        {
            NameOption(),
        };
        cmd.TreatUnmatchedTokensAsErrors = false;
        cmd.SetAction((_, _) => LocalRunner.RunAsync(LocalRunner.ArgsAfter(argv, "up"), allowCommand: false));
        return cmd;
    }

    public static Option<string> NameOption() => new("--name")
    {
        Description = $"Namespace name (default {LocalStackPlan.DefaultName}); its files live in {LocalStackPlan.RuntimeRoot} for the default name, {LocalStackPlan.RuntimeRoot}/NAME otherwise.",
    };
}

/// <summary><c>rdnet run [--publish HOST:GUEST]… -- CMD…</c>: <c>rdnet up</c>, one command inside, then teardown.</summary>
internal static class RunCommand
{
    public static Command Create(IReadOnlyList<string> argv)
    {
        var cmd = new Command("run", "Start the stack as rdnet up does, run one command inside the namespace (rdnet run -- curl http://host.rancher-desktop.internal:8080/), tear down and exit with the command's status.")
        {
            UpCommand.NameOption(),
            new Option<string[]>("--publish") { Description = "Forward 127.0.0.1:HOST on this machine to the guest's GUEST port (repeatable), HOST:GUEST like 8080:80." },
        };
        cmd.TreatUnmatchedTokensAsErrors = false;
        cmd.SetAction((_, _) => LocalRunner.RunAsync(LocalRunner.ArgsAfter(argv, "run"), allowCommand: true));
        return cmd;
    }
}

/// <summary>What up and run share: parse, check tools, start, wait for a signal (up) or the command (run), tear down.</summary>
internal static class LocalRunner
{
    public static IReadOnlyList<string> ArgsAfter(IReadOnlyList<string> argv, string verb)
    {
        var i = argv.ToList().IndexOf(verb);
        return i < 0 ? [] : argv.Skip(i + 1).ToList();
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> args, bool allowCommand)
    {
        var verb = allowCommand ? "run" : "up";
        void Log(string line) => Console.Error.WriteLine($"rdnet {verb}: {line}");
        if (!OperatingSystem.IsLinux())
        {
            Log("rdnet up and rdnet run need Linux network namespaces");
            return 2;
        }
        LocalStackPlan plan;
        LocalStackSettings settings;
        try
        {
            plan = LocalStackPlan.Parse(args, allowCommand);
            settings = LocalStackSettings.FromConfig(HoconFiles.Load());
            if (Environment.UserName != "root") throw new LocalStackException("creating a network namespace needs root: run it with sudo");
            LocalStack.EnsureTools(Log, settings.InstallTimeout);
        }
        catch (Exception e) when (e is LocalStackException or FatalSetupException)
        {
            Log(e.Message);
            return 2;
        }

        // up shows the roles' logs; run keeps the terminal for the command and shows only warnings and errors.
        Action<string> childOutput = allowCommand && !plan.Debug
            ? line => { if (line.Contains("[WRN]", StringComparison.Ordinal) || line.Contains("[ERR]", StringComparison.Ordinal) || line.Contains("[FTL]", StringComparison.Ordinal)) Console.Error.WriteLine(line); }
            : Console.Error.WriteLine;
        using var stop = new CancellationTokenSource();
        System.Diagnostics.Process? command = null;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
            try
            {
                if (command is { HasExited: false } c)
                {
                    // run passes the signal on to the command and exits with its status once it has gone. A SIGINT
                    // while we are a terminal's foreground job is taken for Ctrl-C, which the command (in our process
                    // group) got from the terminal already: a second one would make "press Ctrl-C again" tools quit.
                    if (context.Signal == PosixSignal.SIGINT && ForegroundTerminal.IsForeground())
                    {
                        Log("SIGINT received (Ctrl-C reached the command too); waiting for the command");
                        return;
                    }
                    Log($"{context.Signal} received; passed on to the command (pid {c.Id})");
                    ChildPlumbing.Signal(c.Id, context.Signal == PosixSignal.SIGINT ? ChildPlumbing.SIGINT : ChildPlumbing.SIGTERM);
                    return;
                }
            }
            catch (InvalidOperationException) { }
            Log($"{context.Signal} received; stopping");
        }
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        var stack = new LocalStack(plan, settings, Log, childOutput);
        var status = 0;
        try
        {
            await stack.StartAsync(stop.Token).ConfigureAwait(false);
            if (!allowCommand)
            {
                foreach (var line in stack.Banner()) Console.WriteLine(line);
                var stopped = Task.Delay(Timeout.Infinite, stop.Token);
                var first = await Task.WhenAny(stopped, stack.RoleExited).ConfigureAwait(false);
                if (first == stack.RoleExited)
                {
                    var (role, code) = await stack.RoleExited.ConfigureAwait(false);
                    Log($"{role} exited with code {code}; tearing down");
                    status = 1;
                }
            }
            else
            {
                foreach (var p in plan.Publish)
                    Log($"published 127.0.0.1:{p.HostPort} → {plan.Network.Guest}:{p.GuestPort} (host-switch --port-forward)");
                // With a parent-death signal of its own (ExecShim): a SIGKILLed rdnet run does not leave it running.
                command = ExecShim.For(plan.Name, plan.Command);
                ParentDeath.Start(command);
                await command.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                status = command.ExitCode;
                command.Dispose();
            }
        }
        catch (LocalStackException e)
        {
            Log(e.Message);
            status = 1;
        }
        catch (OperationCanceledException)
        {
            // a signal during start-up: tear down what exists
            status = allowCommand ? 130 : 0;
        }
        finally
        {
            await stack.DisposeAsync().ConfigureAwait(false);
            Log("stopped; everything it created is removed");
        }
        return status;
    }
}
