using System.Diagnostics;
using RdNet.Transport.Linux;

namespace RdNet.Cli.Local;

/// <summary>
/// How rdnet run starts its command so that the command, too, goes when rdnet run is SIGKILLed: rdnet run starts
/// <c>rdnet __exec ip netns exec NAME CMD…</c> through <see cref="ParentDeath.Start"/> (from the thread that lives as
/// long as rdnet run); Program.cs has already asked for SIGTERM on the parent's death and checked that the parent is
/// still rdnet run (<see cref="ParentDeath.TryApplyFromEnvironment"/>) when this runs; it then replaces itself with
/// <c>ip</c>, which enters the namespace and replaces itself with the command — same pid, same parent, and the
/// parent-death signal survives both execs. SIGTERM is what the command gets when rdnet run itself is terminated, too.
/// Not a user command: it refuses to run without a parent that asked for it.
/// </summary>
internal static class ExecShim
{
    public const string Verb = "__exec";

    /// <summary>The process that runs <paramref name="command"/> in namespace <paramref name="netns"/>, not started yet.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static Process For(string netns, IReadOnlyList<string> command)
    {
        var psi = new ProcessStartInfo(LocalStack.RdnetExecutable()) { UseShellExecute = false };
        foreach (var a in (string[])[Verb, "ip", "netns", "exec", netns, .. command]) psi.ArgumentList.Add(a);
        return new Process { StartInfo = psi };
    }

    public static int Run(IReadOnlyList<string> argv)
    {
        if (!ParentDeath.Applied)
        {
            Console.Error.WriteLine($"rdnet {Verb}: an internal command of rdnet run (started with {ParentDeath.Variable} set by its parent)");
            return 2;
        }
        if (argv.Count == 0)
        {
            Console.Error.WriteLine($"rdnet {Verb}: no command");
            return 2;
        }
        var errno = ExecImage.Replace(argv);
        Console.Error.WriteLine($"rdnet run: cannot run {argv[0]} (errno {errno})");
        return errno == 2 ? 127 : 126; // ENOENT: as a shell says "not found"
    }
}
