using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using RdNet.Transport.Links;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RdNet.Actors.Gateway;
using RdNet.Transport.Diagnostics;

namespace RdNet.Actors.Forwarding.Api;

/// <summary>
/// Kestrel serving a <see cref="ForwarderApi"/>. In the guest network it is fed the connections the gateway's TCP stack
/// accepted on .1:80 (<see cref="StackConnectionListener"/>, each connection's remote end point set to the guest's
/// address, which is the caller an empty remote host means); on the host it listens on a unix socket (mode 0600) or, on
/// Windows, a named pipe.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private Socket? _bound;

    private ApiServer(WebApplication app) => _app = app;

    /// <summary>The in-guest API: connections come from <paramref name="listener"/>.</summary>
    public static async Task<ApiServer> StartInGuestAsync(StackConnectionListener listener, ForwarderApi api, ForwardingSettings settings)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            Limits(o, settings);
            o.Listen(new IPEndPoint(IPAddress.Any, 80)); // nominal: the listener below is what accepts
        });
        builder.Services.AddSingleton<IConnectionListenerFactory>(new StackListenerFactory(listener));
        return await StartAsync(builder, api).ConfigureAwait(false);
    }

    /// <summary>
    /// The host-side API on <paramref name="endpoint"/> (<c>unix:///path</c>; <c>npipe://name</c> on Windows). A unix socket
    /// is bound and made 0600 before it listens, so only the host user can ever connect; a stale socket file is replaced,
    /// a live one (another host-switch answering) is an error.
    /// </summary>
    public static async Task<ApiServer> StartOnHostAsync(string endpoint, ForwarderApi api, ForwardingSettings settings)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.ClearProviders();
        if (UnixSocketEndpoint.HasScheme(endpoint))
        {
            if (!UnixSocketEndpoint.TryParse(endpoint, out var path, out var error))
                throw new ArgumentException($"invalid --api {error}");
            var (bound, handle) = BindUnixPrivate(path);
            builder.WebHost.UseKestrel(o =>
            {
                Limits(o, settings);
                o.ListenHandle(handle);
            });
            try
            {
                var server = await StartAsync(builder, api).ConfigureAwait(false);
                server._bound = bound;
                return server;
            }
            catch
            {
                bound.Dispose();
                throw;
            }
        }
        else if (endpoint.StartsWith(NamedPipeEndpoint.Scheme, StringComparison.Ordinal) && OperatingSystem.IsWindows())
        {
            var name = NamedPipeEndpoint.Name(endpoint);
            builder.WebHost.UseNamedPipes(p => p.CurrentUserOnly = true);
            builder.WebHost.UseKestrel(o =>
            {
                Limits(o, settings);
                o.ListenNamedPipe(name.TrimStart('/'));
            });
        }
        else
        {
            throw new ArgumentException($"invalid --api '{endpoint}': expected {UnixSocketEndpoint.ExpectedFormat} (or npipe:////./pipe/name on Windows)");
        }
        return await StartAsync(builder, api).ConfigureAwait(false);
    }

    private static void Limits(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions o, ForwardingSettings settings)
    {
        o.AddServerHeader = false;
        o.Limits.RequestHeadersTimeout = settings.ApiReadTimeout;
        o.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(Math.Max(settings.ApiReadTimeout.TotalSeconds, 1));
        o.Limits.MaxRequestBodySize = settings.ApiMaxRequestBytes;
        o.Limits.MaxConcurrentConnections = settings.ApiMaxConnections;
    }

    private static async Task<ApiServer> StartAsync(WebApplicationBuilder builder, ForwarderApi api)
    {
        // The role's host owns SIGTERM/SIGINT and stops this server through its actor; this host never reacts to
        // signals or process exit itself (a second console lifetime would race the role's orderly shutdown).
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, ActorOwnedLifetime>();
        var app = builder.Build();
        app.Run(api.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        return new ApiServer(app);
    }

    /// <summary>
    /// Binds the socket and makes it 0600 before anyone can connect (nothing listens yet); Kestrel listens on its
    /// descriptor without owning it (it never closes a handle it was given), so the bound Socket is kept until the
    /// server stops: disposing it closes the listener and removes the socket file.
    /// </summary>
    private static (Socket Bound, ulong Handle) BindUnixPrivate(string path)
    {
        if (Path.GetDirectoryName(path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        LinkEndpoint.RemoveStaleUnixSocket(path);
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            return (s, (ulong)s.SafeHandle.DangerousGetHandle());
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Stops the server <paramref name="starting"/> yields, whenever it does; nothing when it failed to start.</summary>
    public static async Task DisposeWhenStartedAsync(Task<ApiServer>? starting)
    {
        if (starting is null) return;
        ApiServer server;
        try
        {
            server = await starting.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return; // the failure was reported to the actor; StartOnHostAsync released what it had bound
        }
        await server.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _bound?.Dispose();
        }
    }

    private sealed class ActorOwnedLifetime : Microsoft.Extensions.Hosting.IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class StackListenerFactory(StackConnectionListener listener) : IConnectionListenerFactory
    {
        public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IConnectionListener>(listener);
    }
}

/// <summary>
/// Kestrel's listener for the in-guest API: a bounded queue of sockets that the gateway's TCP stack accepted on .1:80
/// (one end of a socket pair; the stack copies between the other end and the guest's TCP connection).
/// </summary>
public sealed class StackConnectionListener : IConnectionListener
{
    private readonly Channel<(Socket Socket, IPEndPoint Guest)> _queue;
    private readonly SocketConnectionContextFactory _contexts = new(new SocketConnectionFactoryOptions(), NullLogger.Instance);

    public StackConnectionListener(int capacity) =>
        _queue = Channel.CreateBounded<(Socket, IPEndPoint)>(new BoundedChannelOptions(capacity) { SingleReader = false, SingleWriter = true });

    public EndPoint EndPoint { get; } = new IPEndPoint(IPAddress.Any, 80);

    /// <summary>Queues a connection; false (the caller closes it) when rdnet.forwarding.api-max-pending are waiting already.</summary>
    public bool TryAdd(Socket socket, IPEndPoint guest) => _queue.Writer.TryWrite((socket, guest));

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var (socket, guest) = await _queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var ctx = _contexts.Create(socket);
            ctx.RemoteEndPoint = guest;
            ctx.LocalEndPoint = EndPoint;
            return ctx;
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _queue.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var item)) item.Socket.Dispose();
        _contexts.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The gateway service that owns TCP port 80 of .1 (<see cref="Transport.Gateway.GatewayService.ForwarderApi"/>): the
/// TCP stack hands it each guest connection (<see cref="GatewayProtocol.LocalStreamAccepted"/>), which it queues for
/// its Kestrel server. Kestrel starts with the actor and stops with it.
/// </summary>
public sealed class GuestApiActor : ReceiveActor
{
    private readonly StackConnectionListener _listener;
    private readonly ForwarderApi _api;
    private readonly ForwardingSettings _settings;
    private readonly DropCounters _drops;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Task<ApiServer>? _starting;

    private sealed record Started(ApiServer Server);

    private sealed record StartFailed(Exception Cause);

    public GuestApiActor(IActorRef forwarder, ForwardingSettings settings, DropCounters drops)
    {
        _settings = settings;
        _drops = drops;
        _listener = new StackConnectionListener(settings.ApiMaxPending);
        _api = new ForwarderApi(forwarder, null, guestSide: true, settings);
        Receive<GatewayProtocol.LocalStreamAccepted>(a =>
        {
            if (!_listener.TryAdd(a.Socket, new IPEndPoint(a.GuestAddress.ToIPAddress(), a.GuestPort)))
            {
                _drops.Increment(DropReason.ForwardApiBacklogFull);
                a.Socket.Dispose();
            }
        });
        Receive<Started>(_ => _log.Info("Forwarder API serving inside the virtual network on port 80"));
        Receive<StartFailed>(f => throw new InvalidOperationException("the in-guest forwarder API did not start", f.Cause));
    }

    protected override void PreStart()
    {
        _starting = ApiServer.StartInGuestAsync(_listener, _api, _settings);
        _starting.PipeTo(Self, success: s => new Started(s), failure: ex => new StartFailed(ex));
    }

    protected override void PostStop()
    {
        var starting = _starting;
        var listener = _listener;
        // Kestrel stops on its own thread: an actor never blocks on it. The server is taken from the start task, not
        // from Started: a stop before Started arrives must not leave the server running until exit.
        _ = Task.Run(async () =>
        {
            await ApiServer.DisposeWhenStartedAsync(starting).ConfigureAwait(false);
            await listener.DisposeAsync().ConfigureAwait(false);
        });
    }

    public static Props Props(IActorRef forwarder, ForwardingSettings settings, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new GuestApiActor(forwarder, settings, drops));
}

/// <summary>
/// The host-side API (<c>--api</c>): Kestrel on a unix socket (named pipe on Windows) serving the forwarder routes and
/// <c>GET /stats</c>. Commands and the stats request go to <paramref name="target"/> (host-switch, which passes
/// forwarder commands on and answers the snapshot). A server that cannot start fails this actor.
/// </summary>
public sealed class HostApiActor : ReceiveActor
{
    private readonly string _endpoint;
    private readonly ForwarderApi _api;
    private readonly ForwardingSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Task<ApiServer>? _starting;

    private sealed record Started(ApiServer Server);

    private sealed record StartFailed(Exception Cause);

    /// <summary>The host API is up (told to the parent, so start-up can report a failure clearly).</summary>
    public sealed record ApiStarted(string Endpoint);

    public sealed record ApiFailed(string Endpoint, string Reason);

    public HostApiActor(string endpoint, IActorRef forwarder, IActorRef stats, ForwardingSettings settings)
    {
        _endpoint = endpoint;
        _settings = settings;
        _api = new ForwarderApi(forwarder, stats, guestSide: false, settings);
        Receive<Started>(_ =>
        {
            _log.Info("Host-side API serving on {Endpoint}", _endpoint);
            Context.Parent.Tell(new ApiStarted(_endpoint));
        });
        Receive<StartFailed>(f =>
        {
            var reason = (f.Cause as AggregateException)?.InnerException?.Message ?? f.Cause.Message;
            _log.Error("Host-side API on {Endpoint} did not start: {Reason}", _endpoint, reason);
            Context.Parent.Tell(new ApiFailed(_endpoint, reason));
        });
    }

    protected override void PreStart()
    {
        _starting = ApiServer.StartOnHostAsync(_endpoint, _api, _settings);
        _starting.PipeTo(Self, success: s => new Started(s), failure: ex => new StartFailed(ex));
    }

    protected override void PostStop()
    {
        var starting = _starting;
        // As the in-guest API: the server comes from the start task, so a stop before Started still closes it. Its
        // disposal closes the bound socket, which removes the socket file — but only after Kestrel has stopped (up to
        // 2 s), and a process that is exiting does not wait for that: the file goes now, so no client finds a dead
        // socket and nothing is left in the runtime folder.
        if (UnixSocketEndpoint.TryParse(_endpoint, out var path, out _))
        {
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.Warning("Could not remove {Path}: {Reason}", path, e.Message); }
        }
        _ = Task.Run(() => ApiServer.DisposeWhenStartedAsync(starting));
    }

    public static Props Props(string endpoint, IActorRef forwarder, IActorRef stats, ForwardingSettings settings) =>
        Akka.Actor.Props.Create(() => new HostApiActor(endpoint, forwarder, stats, settings));
}
