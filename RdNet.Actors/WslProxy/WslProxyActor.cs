using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// Root of wsl-proxy. Validates each PortMapping (<see cref="PortMappingParser"/>) and keeps one listener per
/// (protocol, address, port), each under its own backoff supervisor. An add binds the socket here first, so an
/// address that cannot be bound is refused at once with the reason, and nothing else changes; a remove stops
/// exactly the listeners it names. An add for a key whose previous listener is still stopping waits for it.
/// </summary>
public sealed class WslProxyActor : ReceiveActor
{
    private readonly WslProxyConfig _config;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<ListenerKey, (IActorRef Supervisor, ListenerIncarnations Incarnations)> _listeners = [];
    private readonly Dictionary<IActorRef, ListenerKey> _keys = [];
    private readonly Dictionary<IActorRef, ListenerKey> _stopping = [];
    private readonly Dictionary<ListenerKey, bool> _pendingAdds = [];
    private IActorRef _control = ActorRefs.Nobody;
    private long _children;

    public WslProxyActor(WslProxyConfig config)
    {
        _config = config;
        Running();
    }

    protected override void PreStart()
    {
        if (_config.ControlSocketPath is { } path)
        {
            var control = ControlListenerActor.Props(path, Self, _config, new ListenerIncarnations(_config.ControlSocket));
            _control = Context.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(control, "listener",
                _config.Settings.ListenerMinBackoff, _config.Settings.ListenerMaxBackoff, 0.2, -1)), "control");
        }
        _log.Info("wsl-proxy up: relaying to {Upstream}", _config.Upstream);
    }

    private void Running()
    {
        Receive<MappingDocument>(m => Apply(m));
        Receive<GetListeners>(_ => Sender.Tell(new Listeners(_listeners.Keys.OrderBy(k => k.ToString(), StringComparer.Ordinal).ToList())));
        Receive<Terminated>(t => OnTerminated(t.ActorRef));
        Receive<Drain>(_ =>
        {
            if (!_control.IsNobody()) Context.Stop(_control);
            var left = _listeners.Count + _stopping.Count;
            _log.Info("Shutting down: closing {Count} listeners, then waiting for their relayed connections", _listeners.Count);
            foreach (var (supervisor, _) in _listeners.Values) supervisor.Tell(DrainListener.Instance);
            _pendingAdds.Clear();
            var replyTo = Sender;
            if (left == 0) replyTo.Tell(new Drained(0));
            else Become(() => Draining(replyTo));
        });
    }

    private void Draining(IActorRef replyTo)
    {
        Receive<MappingDocument>(m => _log.Warning("Ignoring a mapping from {Source}: shutting down", m.Source));
        Receive<GetListeners>(_ => Sender.Tell(new Listeners(_listeners.Keys.ToList())));
        Receive<Drain>(_ => { });
        Receive<Terminated>(t =>
        {
            OnTerminated(t.ActorRef);
            if (_listeners.Count + _stopping.Count == 0) replyTo.Tell(new Drained(0));
        });
    }

    private void Apply(MappingDocument m)
    {
        if (!PortMappingParser.TryParse(m.Json, _config.Settings.MaxListeners, out var mapping, out var error))
        {
            Reject($"{m.Source}: mapping refused: {error}; no listener changed");
            return;
        }
        foreach (var reason in mapping.Rejected) Reject($"{m.Source}: entry refused: {reason}");
        foreach (var key in mapping.Listeners)
        {
            if (mapping.Remove) Remove(key);
            else Add(key);
        }
    }

    private void Add(ListenerKey key)
    {
        if (_listeners.ContainsKey(key))
        {
            _log.Info("Already listening on {Key}; nothing to add", key);
            return;
        }
        if (_stopping.ContainsValue(key))
        {
            // Its previous listener still holds the port for a moment; bind once it is gone.
            _pendingAdds[key] = true;
            return;
        }
        if (_listeners.Count >= _config.Settings.MaxListeners)
        {
            _config.Drops.Increment(DropReason.WslProxyListenerLimit);
            Reject($"cannot listen on {key}: {_config.Settings.MaxListeners} listeners already (rdnet.wsl-proxy.max-listeners)");
            return;
        }
        Socket socket;
        try
        {
            socket = (_config.Bind ?? (k => ProxySockets.Bind(k, _config.Settings.ListenBacklog)))(key);
        }
        catch (SocketException e)
        {
            _config.Drops.Increment(DropReason.WslProxyBindFailed);
            Reject($"cannot listen on {key}: {e.SocketErrorCode} ({e.Message})");
            return;
        }
        var incarnations = new ListenerIncarnations(socket);
        var child = key.Protocol == ProxyProtocol.Tcp
            ? TcpListenerActor.Props(key, _config, incarnations)
            : UdpListenerActor.Props(key, _config, incarnations);
        var options = Backoff.OnFailure(child, "listener", _config.Settings.ListenerMinBackoff, _config.Settings.ListenerMaxBackoff, 0.2, -1)
            .WithFinalStopMessage(msg => msg is DrainListener);
        var supervisor = Context.ActorOf(BackoffSupervisor.Props(options), $"{(key.Protocol == ProxyProtocol.Tcp ? "tcp" : "udp")}-{key.Port}-{++_children}");
        Context.Watch(supervisor);
        _listeners[key] = (supervisor, incarnations);
        _keys[supervisor] = key;
        _log.Info("Listening on {Key}, relaying to {Upstream}:{Port}", key, _config.Upstream, key.Port);
        Context.System.EventStream.Publish(new ListenerAdded(key));
    }

    private void Remove(ListenerKey key)
    {
        _pendingAdds.Remove(key);
        if (!_listeners.Remove(key, out var entry))
        {
            _log.Info("Not listening on {Key}; nothing to remove", key);
            return;
        }
        _keys.Remove(entry.Supervisor);
        _stopping[entry.Supervisor] = key;
        Context.Stop(entry.Supervisor);
        entry.Incarnations.DisposeUnused();
        _log.Info("Stopped listening on {Key}", key);
        Context.System.EventStream.Publish(new ListenerRemoved(key));
    }

    private void OnTerminated(IActorRef actor)
    {
        if (_stopping.Remove(actor, out var stopped))
        {
            // Removed on purpose; an add that arrived meanwhile can bind now that the port is free.
            if (!_listeners.ContainsKey(stopped) && _pendingAdds.Remove(stopped)) Add(stopped);
            return;
        }
        if (_keys.Remove(actor, out var key) && _listeners.Remove(key, out var entry))
        {
            // The supervisor ended without a remove: its listener finished draining (shutdown) or gave up.
            entry.Incarnations.DisposeUnused();
            _log.Info("Listener {Key} ended", key);
        }
    }

    private void Reject(string reason)
    {
        _config.Drops.Increment(DropReason.WslProxyBadMapping);
        _log.Warning("{Reason}", reason);
        Context.System.EventStream.Publish(new MappingRejected(reason));
    }

    public static Props Props(WslProxyConfig config) => Akka.Actor.Props.Create(() => new WslProxyActor(config));
}

/// <summary>Starts wsl-proxy in an actor system.</summary>
public static class WslProxyRole
{
    /// <summary>
    /// Starts the root and hooks it into CoordinatedShutdown: in service-requests-done (SIGTERM/SIGINT → host stop),
    /// listeners close and relayed connections get rdnet.wsl-proxy.shutdown-drain-timeout to finish.
    /// </summary>
    /// <param name="report">Where the drain's outcome is written; the CLI passes its (synchronous) logger, because at this
    /// point of the shutdown the actor logging may not be flushed any more.</param>
    public static IActorRef Start(ActorSystem system, WslProxyConfig config, Action<string>? report = null, string name = "wsl-proxy")
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(config);
        var root = system.ActorOf(WslProxyActor.Props(config), name);
        var timeout = config.Settings.ShutdownDrainTimeout;
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceRequestsDone, "wsl-proxy-drain", async () =>
        {
            try
            {
                // The shutdown hook is the edge of the actor system, where Ask is the way in.
                await root.Ask<Drained>(Drain.Instance, timeout).ConfigureAwait(false);
                (report ?? system.Log.Info)("every relayed connection finished; wsl-proxy stopped");
            }
            catch (AskTimeoutException)
            {
                (report ?? system.Log.Warning)($"relayed connections still open after {timeout.TotalSeconds:0.###} s (rdnet.wsl-proxy.shutdown-drain-timeout); closing them");
            }
            return Akka.Done.Instance;
        });
        return root;
    }
}
