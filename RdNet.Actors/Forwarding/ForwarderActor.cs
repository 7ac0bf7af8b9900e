using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Forwarding;

/// <summary>
/// The table of port forwards (spec §5.8), keyed <c>"&lt;protocol&gt;/&lt;local&gt;"</c>. An expose is validated
/// (<see cref="ForwardSpec"/>), its host listener bound here — so a failure is answered at once and leaves nothing
/// behind — and handed to one child actor per forward (<see cref="TcpForwardActor"/> for tcp and unix,
/// <see cref="UdpForwardActor"/> for udp), which owns it and one child per connection or client flow. Unexpose stops
/// that child (listener closed, its connections reset). A forward whose listener fails is removed and the removal
/// logged; the other forwards never notice.
/// </summary>
public sealed class ForwarderActor : ReceiveActor
{
    private readonly VirtualNetwork _network;
    private readonly ForwardingSettings _settings;
    private readonly DropCounters _drops;
    private readonly Dictionary<string, (ForwardSpec Spec, IActorRef Actor)> _forwards = [];
    private readonly Dictionary<IActorRef, string> _keys = [];
    // Unexposed forwards whose actor has not stopped yet (its listener closes in PostStop): an expose of the same key
    // waits for the Terminated, so an unexpose + expose of one port (a container restart) never meets EADDRINUSE.
    private readonly Dictionary<IActorRef, string> _closing = [];
    private readonly Dictionary<string, List<(Expose Request, IActorRef ReplyTo)>> _waiting = [];
    private readonly Dictionary<string, (int Open, long Accepted)> _counts = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _gateway;
    private long _listenerFailures, _acceptedGone;
    private int _nextId;

    public ForwarderActor(VirtualNetwork network, ForwardingSettings settings, DropCounters drops, IActorRef? gateway)
    {
        _network = network;
        _settings = settings;
        _drops = drops;
        _gateway = gateway ?? ActorRefs.Nobody;

        Receive<AttachGateway>(a =>
        {
            _gateway = a.Gateway;
            foreach (var (_, actor) in _forwards.Values) actor.Tell(a);
        });
        Receive<Expose>(OnExpose);
        Receive<Unexpose>(OnUnexpose);
        Receive<List>(_ => Sender.Tell(new ForwardList(_forwards.Values
            .Select(f => new ForwardInfo(f.Spec.Local, f.Spec.Remote, ForwardSpec.ProtocolName(f.Spec.Protocol)))
            .OrderBy(f => f.Local, StringComparer.Ordinal).ThenBy(f => f.Protocol, StringComparer.Ordinal).ToList())));
        Receive<GetStats>(_ => Sender.Tell(new ForwarderStats(_forwards.Count, _counts.Values.Sum(c => c.Open),
            _acceptedGone + _counts.Values.Sum(c => c.Accepted), _listenerFailures)));
        Receive<ConnectionCount>(c =>
        {
            if (_forwards.ContainsKey(c.Key)) _counts[c.Key] = (c.Open, c.Accepted);
        });
        Receive<Terminated>(t =>
        {
            if (_closing.Remove(t.ActorRef, out var closed))
            {
                if (_waiting.Remove(closed, out var parked))
                    foreach (var (request, replyTo) in parked) Self.Tell(request, replyTo);
                return;
            }
            if (!_keys.Remove(t.ActorRef, out var key)) return;
            // Still in the table: not unexposed, so its listener failed (the reason was logged by the supervisor).
            _forwards.Remove(key);
            Forget(key);
            _listenerFailures++;
            _log.Warning("Forward {Key} removed: its listener failed; expose it again to retry", key);
        });
    }

    private void Forget(string key)
    {
        if (_counts.Remove(key, out var c)) _acceptedGone += c.Accepted;
    }

    private void OnExpose(Expose e)
    {
        if (!ForwardSpec.TryParse(e.Local, e.Remote, e.Protocol, e.Caller, _network, out var spec, out var error))
        {
            Sender.Tell(new Refused(error!));
            return;
        }
        if (spec!.Protocol == ForwardProtocol.Unix && e.FromGuest)
        {
            Sender.Tell(new Refused(new ForwardError(ForwardErrorKind.Failed, "unix forwards can only be exposed through the host-side API (--api): a guest may not choose host file paths")));
            return;
        }
        if (_closing.ContainsValue(spec.Key))
        {
            if (!_waiting.TryGetValue(spec.Key, out var parked)) _waiting[spec.Key] = parked = [];
            parked.Add((e, Sender));
            return;
        }
        if (_forwards.ContainsKey(spec.Key))
        {
            Sender.Tell(new Refused(new ForwardError(ForwardErrorKind.Failed, $"proxy already running for {spec.Key}")));
            return;
        }
        if (_forwards.Count >= _settings.MaxForwards)
        {
            Sender.Tell(new Refused(new ForwardError(ForwardErrorKind.Failed, $"too many forwards ({_settings.MaxForwards}, rdnet.forwarding.max-forwards)")));
            return;
        }
        Socket listener;
        try
        {
            listener = Bind(spec, _settings.ListenBacklog);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            var why = ex is SocketException se ? $"{se.Message} ({se.SocketErrorCode})" : ex.Message;
            Sender.Tell(new Refused(new ForwardError(ForwardErrorKind.Failed, $"cannot listen on {spec.Key}: {why}")));
            return;
        }
        var props = spec.Protocol == ForwardProtocol.Udp
            ? UdpForwardActor.Props(spec, listener, _gateway, _settings, _drops)
            : TcpForwardActor.Props(spec, listener, _gateway, _settings, _drops);
        var child = Context.ActorOf(props, $"{ForwardSpec.ProtocolName(spec.Protocol)}-{_nextId++}");
        Context.Watch(child);
        _forwards[spec.Key] = (spec, child);
        _keys[child] = spec.Key;
        _log.Info("Forward {Key} -> {Remote} exposed", spec.Key, spec.Remote);
        Sender.Tell(Done.Instance);
    }

    private void OnUnexpose(Unexpose u)
    {
        // The key as the original builds it: the protocol as given (default tcp) and the local string unchanged.
        var key = $"{(string.IsNullOrEmpty(u.Protocol) ? "tcp" : u.Protocol)}/{u.Local ?? ""}";
        if (!_forwards.Remove(key, out var f))
        {
            Sender.Tell(new Refused(new ForwardError(ForwardErrorKind.Failed, "proxy not found")));
            return;
        }
        _keys.Remove(f.Actor);
        _closing[f.Actor] = key;
        Context.Stop(f.Actor);
        Forget(key);
        _log.Info("Forward {Key} unexposed", key);
        Sender.Tell(Done.Instance);
    }

    private const int SolSocket = 1, SoReuseAddr = 2; // <asm-generic/socket.h>

    /// <summary>Binds the host side of a forward; throws on failure, leaving nothing open.</summary>
    internal static Socket Bind(ForwardSpec spec, int backlog)
    {
        Socket? s = null;
        try
        {
            switch (spec.Protocol)
            {
                case ForwardProtocol.Unix:
                    // As the original: whatever is at the path is removed first (a stale socket of an earlier run).
                    if (File.Exists(spec.Path)) File.Delete(spec.Path!);
                    s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    s.Bind(new UnixDomainSocketEndPoint(spec.Path!));
                    s.Listen(backlog);
                    return s;
                case ForwardProtocol.Udp:
                    s = new Socket(spec.Listen!.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                    if (spec.DualStack) s.DualMode = true;
                    s.Bind(spec.Listen);
                    return s;
                default:
                    s = new Socket(spec.Listen!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    if (spec.DualStack) s.DualMode = true;
                    // As Go's listeners: a port whose earlier connections are in TIME-WAIT can be bound again. Plain
                    // SO_REUSEADDR only: .NET's ReuseAddress option also sets SO_REUSEPORT on Linux, which would let a
                    // second forward share a port that is already listening.
                    if (OperatingSystem.IsLinux()) s.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
                    s.Bind(spec.Listen);
                    s.Listen(backlog);
                    return s;
            }
        }
        catch
        {
            s?.Dispose();
            throw;
        }
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        _log.Warning("A forward failed: {Error}", ex.Message);
        return Directive.Stop;
    });

    public static Props Props(VirtualNetwork network, ForwardingSettings settings, DropCounters drops, IActorRef? gateway = null) =>
        Akka.Actor.Props.Create(() => new ForwarderActor(network, settings, drops, gateway));
}
