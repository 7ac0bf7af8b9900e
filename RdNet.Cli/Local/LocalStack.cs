using System.Diagnostics;
using System.Globalization;
using RdNet.Transport.Linux;

namespace RdNet.Cli.Local;

/// <summary>Bounds of <c>rdnet up</c> (from <c>rdnet.local</c> in hocon/rdnet.hocon).</summary>
public sealed record LocalStackSettings(TimeSpan ReadyTimeout, TimeSpan StopGrace, TimeSpan CommandTimeout, TimeSpan InstallTimeout)
{
    public static LocalStackSettings FromConfig(Akka.Configuration.Config config)
    {
        var c = config.GetConfig("rdnet.local") ?? throw new InvalidOperationException("hocon: rdnet.local is missing");
        return new LocalStackSettings(c.GetTimeSpan("ready-timeout"), c.GetTimeSpan("stop-grace"), c.GetTimeSpan("command-timeout"), c.GetTimeSpan("install-timeout"));
    }
}

/// <summary>
/// Runs a <see cref="LocalStackPlan"/>: network-setup and host-switch as child processes of this same executable,
/// wired over unix sockets in the runtime folder; network-setup makes the named namespace (<c>ip netns add</c>, so
/// <c>ip netns exec NAME</c> enters it) with vm-switch on its tap. <see cref="DisposeAsync"/> removes everything
/// that was created, in reverse, whether start-up got to the end or not.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalStack : IAsyncDisposable
{
    private readonly LocalStackPlan _plan;
    private readonly LocalStackSettings _settings;
    private readonly Action<string> _log;
    private readonly Action<string> _childOutput;
    private readonly List<(string Role, Process Process)> _children = [];
    private readonly List<string> _files = [];
    private readonly List<string> _dirs = [];
    private FileStream? _lock;
    private bool _disposed;

    public LocalStack(LocalStackPlan plan, LocalStackSettings settings, Action<string> log, Action<string> childOutput)
    {
        _plan = plan;
        _settings = settings;
        _log = log;
        _childOutput = childOutput;
    }

    /// <summary>Completes when a role process exits on its own (its name and exit code).</summary>
    public Task<(string Role, int Code)> RoleExited { get; private set; } = Task.FromResult(("", 0));

    /// <summary>The guest's address once <see cref="StartAsync"/> returned (from the tap).</summary>
    public string? GuestAddress { get; private set; }

    public int HostSwitchPid { get; private set; }
    public int NetworkSetupPid { get; private set; }

    /// <summary>The rdnet executable the roles are started from (the apphost beside us under <c>dotnet rdnet.dll</c>).</summary>
    public static string RdnetExecutable()
    {
        var path = Environment.ProcessPath ?? throw new LocalStackException("cannot tell where the rdnet executable is");
        var name = Path.GetFileNameWithoutExtension(path);
        if (name == "dotnet")
        {
            path = Path.Combine(AppContext.BaseDirectory, "rdnet");
            if (!File.Exists(path)) throw new LocalStackException($"started through dotnet, and {path} (the apphost) is missing");
        }
        return path;
    }

    /// <summary>ip and udhcpc on the PATH; when missing and apt-get exists they are installed, else a clear error.</summary>
    public static void EnsureTools(Action<string> log, TimeSpan timeout)
    {
        var missing = new List<(string Tool, string Package)>();
        if (FindOnPath("ip") is null) missing.Add(("ip", "iproute2"));
        if (FindOnPath("udhcpc") is null) missing.Add(("udhcpc", "udhcpc"));
        if (missing.Count == 0) return;
        var packages = string.Join(' ', missing.Select(m => m.Package));
        var tools = string.Join(", ", missing.Select(m => m.Tool));
        if (FindOnPath("apt-get") is null)
            throw new LocalStackException($"{tools} missing: install {packages} (rdnet up needs ip(8) and udhcpc)");
        log($"{tools} missing: installing {packages} with apt-get");
        var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        if (Run("apt-get", ["install", "-y", "-qq", .. missing.Select(m => m.Package)], env, timeout).Code != 0)
        {
            // A fresh machine has no package lists yet.
            Run("apt-get", ["update", "-qq"], env, timeout);
            var second = Run("apt-get", ["install", "-y", "-qq", .. missing.Select(m => m.Package)], env, timeout);
            if (second.Code != 0) throw new LocalStackException($"apt-get install {packages} failed: {second.Output.Trim()}");
        }
        if (missing.Any(m => FindOnPath(m.Tool) is null))
            throw new LocalStackException($"{tools} still missing after apt-get install {packages}");
    }

    public static string? FindOnPath(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    public async Task StartAsync(CancellationToken ct)
    {
        // A namespace of that name that no rdnet run left (no runtime folder) belongs to someone else: network-setup
        // would treat it as stale and delete it, with whatever runs inside.
        if (File.Exists($"/run/netns/{_plan.Name}") && !Directory.Exists(_plan.RuntimeDir))
            throw new LocalStackException($"network namespace {_plan.Name} already exists and was not made by rdnet: choose another --name (or remove it: ip netns del {_plan.Name})");
        PrepareRuntimeDir();
        var rdnet = RdnetExecutable();
        if (File.Exists(_plan.VmSwitchLink) || Directory.Exists(_plan.VmSwitchLink)) File.Delete(_plan.VmSwitchLink);
        File.CreateSymbolicLink(_plan.VmSwitchLink, rdnet);
        _files.Add(_plan.VmSwitchLink);
        WriteFile(_plan.DhcpScriptPath, LocalStackPlan.DhcpScript, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Named after our namespace, so ours even when a killed run left it (removed only when empty).
        Directory.CreateDirectory(_plan.EtcNetnsDir);
        _dirs.Add(_plan.EtcNetnsDir);
        WriteFile(Path.Combine(_plan.EtcNetnsDir, "resolv.conf"), _plan.ResolvConf, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        _files.Add(_plan.HandshakeSocket);
        _files.Add(_plan.DataSocket);
        _files.Add(_plan.PidFile);

        var exited = new TaskCompletionSource<(string, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        RoleExited = exited.Task;
        // network-setup first: host-switch probes its handshake socket (and retries while it is not there yet).
        NetworkSetupPid = StartRole(rdnet, "network-setup", _plan.NetworkSetupArguments(_plan.VmSwitchLink), exited);
        await WaitFor(() => File.Exists(_plan.HandshakeSocket), "network-setup to listen for the handshake", ct).ConfigureAwait(false);
        HostSwitchPid = StartRole(rdnet, "host-switch", _plan.HostSwitchArguments(), exited);
        var tap = _plan.TapInterface;
        await WaitFor(() => (GuestAddress = LeasedAddress(tap)) is not null, $"{tap} in namespace {_plan.Name} to get its DHCP lease", ct).ConfigureAwait(false);
    }

    /// <summary>The lines telling the operator what is up and how to use it.</summary>
    public IReadOnlyList<string> Banner()
    {
        var n = _plan.Network;
        return
        [
            $"rdnet: namespace {_plan.Name} is up: {_plan.TapInterface} {GuestAddress}, gateway and DNS {n.Gateway}, the host's 127.0.0.1 is {n.HostAlias} (host.rancher-desktop.internal)",
            $"  enter it:          sudo ip netns exec {_plan.Name} bash",
            $"  run one command:   sudo ip netns exec {_plan.Name} curl http://host.rancher-desktop.internal:8080/",
            $"  forward a port:    sudo rdnet forward expose --api unix://{_plan.ApiSocket} … (host 127.0.0.1:PORT → {n.Guest}:PORT)",
            $"  stop:              Ctrl-C (or SIGTERM to pid {Environment.ProcessId}); the namespace and everything under {_plan.RuntimeDir} are removed",
        ];
    }

    private void PrepareRuntimeDir()
    {
        if (!Directory.Exists(_plan.RuntimeDir))
        {
            // Created level by level so that only what we made is removed again.
            var missing = new Stack<string>();
            for (var d = _plan.RuntimeDir; !string.IsNullOrEmpty(d) && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Push(d);
            while (missing.TryPop(out var d))
            {
                Directory.CreateDirectory(d);
                _dirs.Add(d);
            }
        }
        // /run/rdnet/NAME is ours even when a killed run left it; /run/rdnet itself only when we made it.
        if (_plan.RuntimeDir != LocalStackPlan.RuntimeRoot && !_dirs.Contains(_plan.RuntimeDir)) _dirs.Add(_plan.RuntimeDir);
        var lockPath = Path.Combine(_plan.RuntimeDir, "lock");
        try
        {
            // FileShare.None is an exclusive flock on Linux: a second rdnet up of the same name is refused here.
            _lock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            _files.Add(lockPath);
        }
        catch (IOException)
        {
            throw new LocalStackException($"another rdnet up is running with --name {_plan.Name} (it holds {lockPath}); stop it or choose another --name");
        }
        // Left by an rdnet up that was SIGKILLed: sockets would make the roles fail to bind.
        foreach (var f in new[] { _plan.HandshakeSocket, _plan.DataSocket, _plan.PidFile, _plan.ApiSocket })
            if (File.Exists(f)) File.Delete(f);
    }

    private void WriteFile(string path, string text, UnixFileMode mode)
    {
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, mode);
        _files.Add(path);
    }

    private int StartRole(string rdnet, string role, IReadOnlyList<string> args, TaskCompletionSource<(string, int)> exited)
    {
        var psi = new ProcessStartInfo(rdnet) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(role);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) _childOutput(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) _childOutput(e.Data); };
        p.Exited += (_, _) =>
        {
            p.WaitForExit(); // output drained
            exited.TrySetResult((role, p.ExitCode));
        };
        // SIGTERM to the role when rdnet up goes, even by SIGKILL: it stops in order (network-setup removes the namespace).
        ParentDeath.Start(p);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _children.Add((role, p));
        _log($"started {role} (pid {p.Id}): {rdnet} {role} {string.Join(' ', args)}");
        return p.Id;
    }

    private async Task WaitFor(Func<bool> condition, string what, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (RoleExited.IsCompleted)
            {
                var (role, code) = RoleExited.Result;
                throw new LocalStackException($"{role} exited with code {code} while waiting for {what} (its log is above)");
            }
            if (sw.Elapsed > _settings.ReadyTimeout)
                throw new LocalStackException($"gave up after {_settings.ReadyTimeout.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    private string? LeasedAddress(string tap)
    {
        if (!GuestPlumbing.NamespaceExists(_plan.Name)) return null;
        var (code, output) = Run("ip", ["-n", _plan.Name, "-4", "-o", "addr", "show", "dev", tap], null, _settings.CommandTimeout);
        if (code != 0) return null;
        var parts = output.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var inet = Array.IndexOf(parts, "inet");
        return inet >= 0 && inet + 1 < parts.Length ? parts[inet + 1] : null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        // network-setup first, while its data link is still up: it stops vm-switch (which would otherwise see its
        // link end and exit 1) and removes the veth pair and the namespace itself. Then host-switch.
        foreach (var (role, p) in _children)
            await StopAsync(role, p).ConfigureAwait(false);
        if (GuestPlumbing.NamespaceExists(_plan.Name) && _children.Count > 0)
        {
            // network-setup did not get to it (killed): the namespace goes, and its veth end with it.
            var plumbing = new GuestPlumbing(_settings.CommandTimeout);
            try
            {
                var stray = plumbing.KillProcessesIn(_plan.Name);
                plumbing.DeleteNamespace(_plan.Name);
                _log($"removed namespace {_plan.Name} ({stray} processes left inside were killed)");
            }
            catch (SetupCommandException e)
            {
                _log($"could not remove namespace {_plan.Name}: {e.Message}");
            }
        }
        _lock?.Dispose();
        foreach (var f in Enumerable.Reverse(_files))
        {
            try { File.Delete(f); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log($"could not remove {f}: {e.Message}"); }
        }
        foreach (var d in Enumerable.Reverse(_dirs))
        {
            try
            {
                if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any()) Directory.Delete(d);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log($"could not remove {d}: {e.Message}"); }
        }
    }

    private async Task StopAsync(string role, Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                ChildPlumbing.Signal(p.Id, ChildPlumbing.SIGTERM);
                using var grace = new CancellationTokenSource(_settings.StopGrace);
                try
                {
                    await p.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    _log($"{role} (pid {p.Id}) did not stop within {_settings.StopGrace.TotalSeconds:0.#} s; killing it");
                    p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            else
            {
                await p.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException) { }
        p.Dispose();
    }

    private static (int Code, string Output) Run(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? env, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"{file}: no answer within {timeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s");
            }
            p.WaitForExit();
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{file}: {e.Message}");
        }
    }
}
