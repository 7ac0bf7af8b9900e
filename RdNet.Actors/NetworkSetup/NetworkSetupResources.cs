using System.Diagnostics;
using RdNet.Transport.Linux;

namespace RdNet.Actors.NetworkSetup;

/// <summary>
/// Everything network-setup created, so that it is all undone exactly once however the process ends (SIGTERM, a fatal
/// error, the actor stopping): the children are stopped (SIGTERM, SIGKILL after the grace), the veth pair and the
/// namespace removed, the pid file deleted. Called by the actor's PostStop and again, harmlessly, by the command.
/// </summary>
public sealed class NetworkSetupResources(GuestPlumbing plumbing, TimeSpan stopGrace)
{
    private readonly Lock _lock = new();
    private readonly List<string> _log = [];
    private SpawnedProcess? _vmSwitch;
    private Process? _init;
    private string? _namespace;
    private string? _veth;
    private string? _pidFile;

    public GuestPlumbing Plumbing { get; } = plumbing;

    /// <summary>What cleanup did or could not do, for the log.</summary>
    public IReadOnlyList<string> Log
    {
        get { lock (_lock) return [.. _log]; }
    }

    public void NamespaceCreated(string name) { lock (_lock) _namespace = name; }
    public void VethCreated(string hostEnd) { lock (_lock) _veth = hostEnd; }
    public void PidFileWritten(string path) { lock (_lock) _pidFile = path; }
    public void InitStarted(Process p) { lock (_lock) _init = p; }

    /// <summary>Records the running vm-switch (replacing one that exited).</summary>
    public void VmSwitchStarted(SpawnedProcess p)
    {
        lock (_lock) _vmSwitch = p;
    }

    public void Cleanup()
    {
        SpawnedProcess? vm;
        Process? init;
        string? ns, veth, pid;
        lock (_lock)
        {
            (vm, init, ns, veth, pid) = (_vmSwitch, _init, _namespace, _veth, _pidFile);
            _vmSwitch = null;
            _init = null;
            _namespace = _veth = _pidFile = null;
        }
        if (vm is not null) StopSpawned(vm);
        // unshare --fork waits with SIGTERM blocked; the signal goes to its child, the new PID namespace's init.
        if (init is not null) Stop(init, "init", SafeChildren(init));
        if (veth is not null) Try($"removed {veth}", () => { if (Plumbing.InterfaceExists(veth)) Plumbing.DeleteInterface(veth); });
        if (ns is not null)
        {
            Try($"killed what was left in namespace {ns}", () =>
            {
                if (GuestPlumbing.NamespaceExists(ns) && Plumbing.KillProcessesIn(ns) is > 0 and var n) Add($"{n} stray processes were still in {ns}");
            });
            Try($"removed namespace {ns}", () => { if (GuestPlumbing.NamespaceExists(ns)) Plumbing.DeleteNamespace(ns); });
        }
        if (pid is not null) Try($"removed {pid}", () => File.Delete(pid));
    }

    private static IReadOnlyList<int> SafeChildren(Process p)
    {
        try { return p.HasExited ? [] : ChildPlumbing.Children(p.Id); }
        catch (InvalidOperationException) { return []; }
    }

    private void Stop(Process p, string what, IReadOnlyList<int> children)
    {
        try
        {
            if (!p.HasExited)
            {
                foreach (var c in children) ChildPlumbing.Signal(c, ChildPlumbing.SIGTERM);
                ChildPlumbing.Signal(p.Id, ChildPlumbing.SIGTERM);
                if (!p.WaitForExit(stopGrace))
                {
                    foreach (var c in children) ChildPlumbing.Signal(c, ChildPlumbing.SIGKILL);
                    if (!p.WaitForExit(TimeSpan.FromMilliseconds(500))) p.Kill(entireProcessTree: true);
                    p.WaitForExit(stopGrace);
                    Add($"{what} (pid {p.Id}) did not stop within {stopGrace.TotalSeconds:0.#} s; killed");
                }
                else
                {
                    Add($"stopped {what} (pid {p.Id})");
                }
            }
        }
        catch (InvalidOperationException) { }
        p.Dispose();
    }

    private void StopSpawned(SpawnedProcess p)
    {
        if (p.HasExited) return;
        ChildPlumbing.Signal(p.Pid, ChildPlumbing.SIGTERM);
        if (p.Exited.Wait(stopGrace))
        {
            Add($"stopped vm-switch (pid {p.Pid}, exit code {p.Exited.Result})");
            return;
        }
        ChildPlumbing.Signal(p.Pid, ChildPlumbing.SIGKILL);
        p.Exited.Wait(stopGrace);
        Add($"vm-switch (pid {p.Pid}) did not stop within {stopGrace.TotalSeconds:0.#} s; killed");
    }

    private void Try(string what, Action action)
    {
        try
        {
            action();
            Add(what);
        }
        catch (Exception e) when (e is SetupCommandException or IOException or UnauthorizedAccessException)
        {
            Add($"could not complete '{what}': {e.Message}");
        }
    }

    private void Add(string line)
    {
        lock (_lock) _log.Add(line);
    }
}
