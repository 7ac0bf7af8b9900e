using System.Runtime.InteropServices;
using RdNet.Transport.Diagnostics;
using Serilog;

namespace RdNet.Cli.Hosting;

/// <summary>SIGUSR1 turns per-packet tracing on or off while the role runs (<c>kill -USR1 PID</c>).</summary>
public static class TraceSignal
{
    /// <summary>SIGUSR1 on Linux; PosixSignal takes raw numbers cast to it.</summary>
    private const int SIGUSR1 = 10;

    /// <summary>Null where POSIX signals do not exist (Windows).</summary>
    public static IDisposable? Register(PacketTrace trace, string role)
    {
        if (!OperatingSystem.IsLinux()) return null;
        return PosixSignalRegistration.Create((PosixSignal)SIGUSR1, context =>
        {
            context.Cancel = true;
            var on = trace.Toggle();
            Log.Information("{Role}: SIGUSR1: packet tracing {State}", role, on ? "on" : "off");
        });
    }
}
