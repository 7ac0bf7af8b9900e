using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RdNet.Actors.Infrastructure;
using Serilog;
using Serilog.Events;

namespace RdNet.Cli.Hosting;

public sealed record CommonOptions(bool Debug, string? LogFile);

/// <summary>
/// Runs one role in the generic host with Akka.Hosting: HOCON from hocon/, actor logging through Serilog to the
/// console and the log file, SIGINT/SIGTERM → host stop → CoordinatedShutdown. A root actor that hits a fatal
/// condition sets the exit code through <see cref="RoleExit"/>.
/// </summary>
public static class RoleHost
{
    private const string ConsoleTemplate = "{Timestamp:HH:mm:ss.fff} [{Level:u3}] {ActorPath} {Message:lj}{NewLine}{Exception}";
    private const string FileTemplate = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {ActorPath} {Message:lj}{NewLine}{Exception}";

    public static async Task<int> RunAsync(
        string role,
        CommonOptions common,
        Action<ActorSystem, RdNetSettings, RoleExit> startRole,
        CancellationToken cancellationToken,
        Func<RdNetSettings, Task>? beforeStart = null)
    {
        Config hocon;
        RdNetSettings settings;
        try
        {
            hocon = HoconFiles.Load();
            settings = RdNetSettings.FromConfig(hocon);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{role}: {e.Message}");
            return 1;
        }
        Log.Logger = CreateLogger(role, common);
        Log.Information(InlineSocketCompletions.Active
            ? "Socket completions run on the epoll threads"
            : "Socket completions are handed to the thread pool");
        // SIGTERM/SIGINT/SIGQUIT: an orderly stop (CoordinatedShutdown), never the runtime's default termination.
        // Registered first, so a signal during start-up (after sockets are bound) is not lost.
        using var stopRequested = new CancellationTokenSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            Log.Information("{Signal} received; shutting down", context.Signal);
            try
            {
                stopRequested.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // A signal handled on its own thread just as the role finished: nothing left to stop (was an abort, exit 134).
            }
        }
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onQuit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop);
        try
        {
            if (beforeStart is not null) await beforeStart(settings).ConfigureAwait(false);
            var exit = new RoleExit();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning);
            builder.Services.AddSerilog(dispose: false);
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
            builder.Services.AddAkka("rdnet", (akka, _) =>
            {
                akka.AddHocon(hocon, HoconAddMode.Prepend);
                akka.ConfigureLoggers(l =>
                {
                    l.LogLevel = common.Debug ? Akka.Event.LogLevel.DebugLevel : Akka.Event.LogLevel.InfoLevel;
                    l.ClearLoggers();
                    l.AddLogger<SerilogLogger>();
                });
                akka.WithActors((system, _) =>
                {
                    system.ActorOf(DeadFrameReclaimer.Props(), "dead-frames");
                    startRole(system, settings, exit);
                });
            });
            using var host = builder.Build();
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            var system = host.Services.GetRequiredService<ActorSystem>();
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            // A fatal condition inside the actor system ends the process too.
            _ = system.WhenTerminated.ContinueWith(_ => lifetime.StopApplication(), TaskScheduler.Default);
            // A signal that came before the host was up is honoured now (the registration then runs at once).
            using var stopOnSignal = stopRequested.Token.Register(lifetime.StopApplication);
            await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            if (exit.Code != 0) Log.Error("{Role} exiting with code {Code}: {Reason}", role, exit.Code, exit.Reason);
            return exit.Code;
        }
        catch (FatalSetupException e)
        {
            Log.Fatal("{Role}: {Message}", role, e.Message);
            return 1;
        }
        finally
        {
            await Log.CloseAndFlushAsync().ConfigureAwait(false);
        }
    }

    private static Serilog.ILogger CreateLogger(string role, CommonOptions common)
    {
        var level = common.Debug ? LogEventLevel.Debug : LogEventLevel.Information;
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.WithProperty("ActorPath", role) // non-actor lines name the role instead
            .WriteTo.Console(outputTemplate: ConsoleTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
        if (!string.IsNullOrEmpty(common.LogFile) && common.LogFile != "/dev/stdout")
        {
            if (CanWrite(common.LogFile, out var why))
            {
                config = config.WriteTo.File(common.LogFile, outputTemplate: FileTemplate,
                    fileSizeLimitBytes: 16 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 4,
                    formatProvider: System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                Console.Error.WriteLine($"{role}: cannot write the log file {common.LogFile} ({why}); logging to the console only");
            }
        }
        return config.CreateLogger();
    }

    private static bool CanWrite(string path, out string? why)
    {
        why = null;
        try
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            using var _ = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = e.Message;
            return false;
        }
    }
}
