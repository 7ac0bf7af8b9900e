using System.Diagnostics;
using System.Text;

[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace RdNet.EndToEnd.Tests;

/// <summary>Result of a short command.</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>A long-running child process whose output is kept for diagnostics.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public ChildProcess(string file, IEnumerable<string> args, string name)
    {
        Name = name;
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }
    public bool HasExited => _process.HasExited;
    public int Pid => _process.Id;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return false;
        _process.WaitForExit(); // drains the redirected output too
        return true;
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>SIGTERM, as a service manager would; then SIGKILL if it does not exit in time.</summary>
    public void Terminate(TimeSpan grace)
    {
        if (_process.HasExited) return;
        Harness.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (!_process.WaitForExit(grace)) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(); // drains the redirected output too
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

public static class Harness
{
    /// <summary>The rdnet apphost built beside this test run (same configuration).</summary>
    public static string RdnetPath { get; } = FindRdnet();

    private static string FindRdnet()
    {
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = baseDir.Parent!.Name; // .../bin/<Configuration>/net10.0/
        var dir = baseDir;
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RdNet.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("cannot find RdNet.sln above " + AppContext.BaseDirectory);
        var path = Path.Combine(dir.FullName, "RdNet.Cli", "bin", configuration, "net10.0", "rdnet");
        if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing; build RdNet.Cli first");
        return path;
    }

    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        p.WaitForExit();
        return new CommandResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static CommandResult Ip(params string[] args) => Run("ip", args);

    /// <summary>The text of a file another process is still writing (a log), or "" if it does not exist yet.</summary>
    public static string ReadShared(string path)
    {
        if (!File.Exists(path)) return "";
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(f);
        return r.ReadToEnd();
    }

    public static void Require(CommandResult r, string what)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"{what} failed: {r}");
    }

    public static async Task<bool> WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition()) return true;
            await Task.Delay(100);
        }
        return condition();
    }
}
