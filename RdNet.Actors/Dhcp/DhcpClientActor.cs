using System.Diagnostics;
using Akka.Actor;
using Akka.Event;

namespace RdNet.Actors.Dhcp;

/// <summary>
/// Runs the system DHCP client for the tap as the original vm-switch does (spec §3.3): <c>udhcpc -f -i eth0
/// [-s script]</c>, in the foreground so it keeps renewing. If it exits it is started again after a delay; it is
/// killed when the actor stops. Its output goes to the actor log.
/// </summary>
public sealed class DhcpClientActor : ReceiveActor, IWithTimers
{
    private readonly string _clientPath;
    private readonly string _interface;
    private readonly string? _script;
    private readonly TimeSpan _restartDelay;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Process? _process;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Exited(int Code);
    private sealed record Output(string Line);
    private sealed record Start
    {
        public static readonly Start Instance = new();
    }

    public DhcpClientActor(string clientPath, string interfaceName, string? script, TimeSpan restartDelay)
    {
        _clientPath = clientPath;
        _interface = interfaceName;
        _script = string.IsNullOrEmpty(script) ? null : script;
        _restartDelay = restartDelay;

        Receive<Start>(_ => StartClient());
        Receive<Output>(o => _log.Info("udhcpc: {Line}", o.Line));
        Receive<Exited>(e =>
        {
            _process?.Dispose();
            _process = null;
            _log.Warning("DHCP client exited with code {Code}; starting it again in {Delay}", e.Code, _restartDelay);
            Timers.StartSingleTimer("restart", Start.Instance, _restartDelay);
        });
    }

    private void StartClient()
    {
        var psi = new ProcessStartInfo(_clientPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add("-i");
        psi.ArgumentList.Add(_interface);
        if (_script is not null)
        {
            psi.ArgumentList.Add("-s");
            psi.ArgumentList.Add(_script);
        }
        var self = Self;
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) self.Tell(new Output(e.Data)); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) self.Tell(new Output(e.Data)); };
        p.Exited += (_, _) => self.Tell(new Exited(SafeExitCode(p)));
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            p.Dispose();
            _log.Error("Cannot start the DHCP client {Path}: {Error}; retrying in {Delay}", _clientPath, e.Message, _restartDelay);
            Timers.StartSingleTimer("restart", Start.Instance, _restartDelay);
            return;
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        _log.Info("Started DHCP client: {Path} {Args} (pid {Pid})", _clientPath, string.Join(' ', psi.ArgumentList), p.Id);
    }

    private static int SafeExitCode(Process p)
    {
        try { return p.ExitCode; } catch (InvalidOperationException) { return -1; }
    }

    protected override void PreStart()
    {
        // A vm-switch that was SIGKILLed could not stop its udhcpc, which would otherwise run on beside ours.
        foreach (var pid in RdNet.Transport.Linux.StaleDhcpClients.Find(_clientPath, _interface))
        {
            if (RdNet.Transport.Linux.ChildPlumbing.Signal(pid, RdNet.Transport.Linux.ChildPlumbing.SIGKILL))
                _log.Warning("Killed a stale DHCP client for {Interface} (pid {Pid}) left by an earlier vm-switch", _interface, pid);
        }
        Self.Tell(Start.Instance);
    }

    protected override void PostStop()
    {
        if (_process is { } p)
        {
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(2000);
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
    }

    public static Props Props(string clientPath, string interfaceName, string? script, TimeSpan restartDelay) =>
        Akka.Actor.Props.Create(() => new DhcpClientActor(clientPath, interfaceName, script, restartDelay));
}
