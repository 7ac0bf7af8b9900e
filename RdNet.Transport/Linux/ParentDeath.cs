using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace RdNet.Transport.Linux;

/// <summary>
/// Children that must not outlive the process that started them (rdnet up's network-setup and host-switch): the
/// parent names itself in <see cref="Variable"/>, and the child, first thing, asks the kernel for SIGTERM when its
/// parent goes (prctl PR_SET_PDEATHSIG) — even a SIGKILLed parent — so its role stops in order and cleans up.
/// The kernel sends the signal when the parent *thread* that forked the child exits, so the parent starts such
/// children from <see cref="Spawner"/>'s one thread, which lives as long as the process (a thread-pool thread that
/// retires after idling would stop the child).
/// </summary>
public static partial class ParentDeath
{
    /// <summary>The parent's pid; not a documented option: set by rdnet up for its own children.</summary>
    public const string Variable = "RDNET_PARENT_PID";

    private const int PR_SET_PDEATHSIG = 1;
    private const int SIGTERM = 15;

    /// <summary>True once <see cref="TryApplyFromEnvironment"/> has set the signal (the parent was alive after it).</summary>
    public static bool Applied { get; private set; }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc")]
    private static partial int getppid();

    /// <summary>
    /// When <see cref="Variable"/> is set: SIGTERM on the parent's death, and the variable removed so that this
    /// process's own children (vm-switch, udhcpc) do not take it for theirs. False (with the reason) when the parent
    /// is already gone — it died between fork and here, so no signal will come: the caller exits.
    /// </summary>
    public static bool TryApplyFromEnvironment(out string? error)
    {
        error = null;
        var value = Environment.GetEnvironmentVariable(Variable);
        if (value is null || !OperatingSystem.IsLinux()) return true;
        Environment.SetEnvironmentVariable(Variable, null);
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parent) || parent <= 1)
        {
            error = $"{Variable}='{value}' is not a process id";
            return false;
        }
        if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0)
        {
            error = $"prctl(PR_SET_PDEATHSIG) failed (errno {Marshal.GetLastPInvokeError()})";
            return false;
        }
        // Checked after the prctl: a parent that dies from here on signals us; one that died before has re-parented us.
        if (getppid() != parent)
        {
            error = $"the parent process {parent} is gone";
            return false;
        }
        Applied = true;
        return true;
    }

    /// <summary>Starts <paramref name="process"/> with <see cref="Variable"/> naming this process, from the spawner thread.</summary>
    public static void Start(Process process)
    {
        process.StartInfo.Environment[Variable] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        Spawner.Run(() => process.Start());
    }

    /// <summary>One background thread for the life of the process that forks the children (see the class summary).</summary>
    private static class Spawner
    {
        private static readonly BlockingCollection<(Action Work, TaskCompletionSource Done)> Queue = [];

        static Spawner()
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = "rdnet child spawner" };
            thread.Start();
        }

        public static void Run(Action work)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Queue.Add((work, done));
            done.Task.GetAwaiter().GetResult();
        }

        private static void Loop()
        {
            foreach (var (work, done) in Queue.GetConsumingEnumerable())
            {
                try
                {
                    work();
                    done.SetResult();
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            }
        }
    }
}
