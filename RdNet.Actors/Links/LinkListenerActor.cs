using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Links;

/// <summary>
/// Accepts data connections on one endpoint (unix, tcp or vsock) and attaches each as a switch port. A failing
/// listener throws; its parent restarts it with backoff (BackoffSupervisor), other listeners are untouched.
/// </summary>
public sealed class LinkListenerActor : ReceiveActor
{
    private readonly LinkEndpoint _endpoint;
    private readonly IActorRef _router;
    private readonly FramePool _pool;
    private readonly LinkOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Socket? _listener;
    private int _accepted;

    private sealed record Accepted(Socket Socket);
    private sealed record AcceptFailed(Exception Error);

    /// <param name="bound">A socket the CLI already bound (so a bad endpoint fails at start-up); taken only by the first incarnation.</param>
    public LinkListenerActor(LinkEndpoint endpoint, IActorRef router, FramePool pool, LinkOptions options, PreBound? bound = null)
    {
        _endpoint = endpoint;
        _listener = bound?.Take();
        _router = router;
        _pool = pool;
        _options = options;

        Receive<Accepted>(a =>
        {
            _accepted++;
            var name = $"{_endpoint}#{_accepted}";
            _log.Info("Accepted data link {Link}", name);
            _router.Tell(new AttachLink(new StreamLink(a.Socket, name, _pool, _options), name));
            AcceptNext();
        });
        Receive<AcceptFailed>(f => throw new IOException($"accept on {_endpoint} failed: {f.Error.Message}", f.Error));
    }

    protected override void PreStart()
    {
        _listener ??= _endpoint.Listen();
        _log.Info("Listening for data links on {Endpoint}", _endpoint);
        AcceptNext();
    }

    private void AcceptNext() =>
        _listener!.AcceptAsync().PipeTo(Self, success: s => new Accepted(s), failure: e => new AcceptFailed(e));

    protected override void PostStop()
    {
        _listener?.Dispose();
        if (_endpoint.Scheme == LinkScheme.Unix)
        {
            try { File.Delete(_endpoint.Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public static Props Props(LinkEndpoint endpoint, IActorRef router, FramePool pool, LinkOptions options, PreBound? bound = null) =>
        Akka.Actor.Props.Create(() => new LinkListenerActor(endpoint, router, pool, options, bound));

    /// <summary>A listening socket handed over once; a restarted listener binds afresh.</summary>
    public sealed class PreBound(Socket socket)
    {
        private Socket? _socket = socket;

        public Socket? Take() => Interlocked.Exchange(ref _socket, null);
    }
}
