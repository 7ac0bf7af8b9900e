using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// Owns the listening socket of one TCP mapping and one <see cref="TcpRelayActor"/> child per accepted connection.
/// An accept failure throws: the backoff supervisor above restarts the listener (binding afresh). A failing relay
/// is stopped alone. <see cref="DrainListener"/> closes the socket and stops the actor when its relays are done.
/// </summary>
public sealed class TcpListenerActor : ReceiveActor
{
    private sealed record Accepted(Socket Socket) : SocketCompletion;

    private sealed record AcceptFailed(Exception Error) : SocketCompletion;

    private readonly ListenerKey _key;
    private readonly IPEndPoint _upstream;
    private readonly WslProxyConfig _config;
    private readonly ListenerIncarnations _incarnations;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Socket? _listener;
    private long _accepted;

    public TcpListenerActor(ListenerKey key, WslProxyConfig config, ListenerIncarnations incarnations)
    {
        _key = key;
        _config = config;
        _incarnations = incarnations;
        _upstream = new IPEndPoint(config.Upstream, key.Port);
        Listening();
    }

    protected override void PreStart()
    {
        var incarnation = _incarnations.NextIncarnation();
        _listener = _incarnations.TakeBound() ?? (_config.Bind ?? (k => ProxySockets.Bind(k, _config.Settings.ListenBacklog)))(_key);
        if (incarnation > 1) _log.Info("Listener {Key} restarted (incarnation {Incarnation})", _key, incarnation);
        Context.System.EventStream.Publish(new ListenerStarted(_key, incarnation));
        AcceptNext();
    }

    private void AcceptNext()
    {
        // A socket that failed under the listener (closed between bind and accept) fails the call itself rather than
        // its task: that too must arrive as AcceptFailed, so the backoff supervisor restarts the listener. Thrown
        // from PreStart it would stop the listener for good.
        Task<Socket> accept;
        try { accept = _listener!.AcceptAsync(); }
        catch (Exception e) { accept = Task.FromException<Socket>(e); }
        accept.PipeTo(Self, success: s => new Accepted(s), failure: e => new AcceptFailed(e));
    }

    private void Listening()
    {
        Receive<Accepted>(a =>
        {
            if (Context.GetChildren().Count() >= _config.Settings.MaxConnections)
            {
                _config.Drops.Increment(DropReason.WslProxyConnectionLimit);
                _log.Warning("{Key}: {Max} relayed connections already (rdnet.wsl-proxy.max-connections); resetting a new one", _key, _config.Settings.MaxConnections);
                ProxySockets.Abort(a.Socket);
            }
            else
            {
                Context.ActorOf(TcpRelayActor.Props(a.Socket, _upstream, _config.Settings, _config.Drops), $"conn-{++_accepted}");
            }
            AcceptNext();
        });
        Receive<AcceptFailed>(f => throw new IOException($"accept on {_key} failed: {f.Error.Message}", f.Error));
        Receive<DrainListener>(_ =>
        {
            _listener?.Dispose();
            var relays = Context.GetChildren().ToList();
            _log.Info("{Key}: listener closed; {Count} relayed connections finishing", _key, relays.Count);
            if (relays.Count == 0)
            {
                Context.Stop(Self);
                return;
            }
            foreach (var r in relays) Context.Watch(r);
            Become(() => Draining(relays.Count));
        });
    }

    private void Draining(int relaysLeft)
    {
        Receive<Accepted>(a => a.Socket.Dispose());
        Receive<AcceptFailed>(_ => { });
        Receive<DrainListener>(_ => { });
        Receive<Terminated>(_ =>
        {
            if (--relaysLeft == 0) Context.Stop(Self);
        });
    }

    // A relay that throws is stopped; its siblings and the listener go on.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PostStop() => _listener?.Dispose();

    public static Props Props(ListenerKey key, WslProxyConfig config, ListenerIncarnations incarnations) =>
        Akka.Actor.Props.Create(() => new TcpListenerActor(key, config, incarnations));
}
