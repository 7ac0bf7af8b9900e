using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// The control socket (spec §6.2): each connection carries one PortMapping, read with a size bound and a
/// timeout (<see cref="ControlDocumentReader"/>) and handed to the root as a <see cref="MappingDocument"/>.
/// At most max-control-connections are read at once; more are closed and counted. An accept failure throws and
/// the backoff supervisor restarts the listener, which re-creates the socket file.
/// </summary>
public sealed class ControlListenerActor : ReceiveActor
{
    private sealed record Accepted(Socket Socket) : SocketCompletion;

    private sealed record AcceptFailed(Exception Error) : SocketCompletion;

    private sealed record DocumentRead(ControlRead Read, long Connection) : SocketCompletion;

    private readonly string _path;
    private readonly IActorRef _root;
    private readonly WslProxyConfig _config;
    private readonly ListenerIncarnations _incarnations;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Socket? _listener;
    private long _connections;
    private int _reading;

    public ControlListenerActor(string path, IActorRef root, WslProxyConfig config, ListenerIncarnations incarnations)
    {
        _path = path;
        _root = root;
        _config = config;
        _incarnations = incarnations;

        Receive<Accepted>(a =>
        {
            var id = ++_connections;
            if (_reading >= _config.Settings.MaxControlConnections)
            {
                _config.Drops.Increment(DropReason.WslProxyControlConnectionLimit);
                _log.Warning("Control connection #{Connection} closed unread: {Max} are being read already (rdnet.wsl-proxy.max-control-connections)", id, _config.Settings.MaxControlConnections);
                a.Socket.Dispose();
            }
            else
            {
                _reading++;
                ControlDocumentReader.ReadAsync(a.Socket, _config.Settings.ControlMaxBytes, _config.Settings.ControlReadTimeout)
                    .PipeTo(Self, success: r => new DocumentRead(r, id));
            }
            AcceptNext();
        });
        Receive<DocumentRead>(d =>
        {
            _reading--;
            if (d.Read.Error is { } error)
            {
                _config.Drops.Increment(DropReason.WslProxyBadMapping);
                _log.Warning("Control connection #{Connection}: {Reason}; no mapping changed", d.Connection, error);
                Context.System.EventStream.Publish(new MappingRejected(error));
                return;
            }
            _root.Tell(new MappingDocument(d.Read.Document, $"control connection #{d.Connection}"));
        });
        Receive<AcceptFailed>(f => throw new IOException($"accept on the control socket {_path} failed: {f.Error.Message}", f.Error));
    }

    protected override void PreStart()
    {
        var incarnation = _incarnations.NextIncarnation();
        _listener = _incarnations.TakeBound() ?? ControlSocket.Bind(_path, _config.Settings.ListenBacklog);
        _log.Info("Listening for port mappings on {Path}{Again}", _path, incarnation > 1 ? $" (restart {incarnation - 1})" : "");
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

    protected override void PostStop()
    {
        _listener?.Dispose();
        ControlSocket.Remove(_path);
    }

    public static Props Props(string path, IActorRef root, WslProxyConfig config, ListenerIncarnations incarnations) =>
        Akka.Actor.Props.Create(() => new ControlListenerActor(path, root, config, incarnations));
}
