using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Gateway;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Forwarding;

/// <summary>
/// One udp forward: owns the bound host socket and reads datagrams from it; each client address:port is one child
/// <see cref="UdpForwardFlowActor"/>, which the gateway gives its own source port (.1:port) towards the guest, so the
/// guest's replies find their way back to the client that asked, from the forward's address. Flows close after
/// rdnet.forwarding.udp-idle-timeout without a datagram either way; beyond max-udp-flows-per-forward a new client's
/// datagram is dropped (counted). A socket error that is not about one datagram fails the forward (removed, logged).
/// </summary>
public sealed class UdpForwardActor : ReceiveActor
{
    private readonly ForwardSpec _spec;
    private readonly Socket _socket;
    private readonly ForwardingSettings _settings;
    private readonly DropCounters _drops;
    private readonly byte[] _buffer;
    private readonly EndPoint _any;
    private readonly CancellationTokenSource _cts = new();
    private readonly Dictionary<EndPoint, IActorRef> _flows = [];
    private readonly Dictionary<IActorRef, EndPoint> _clients = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _gateway;
    private long _opened;

    private sealed record Received(int Length, EndPoint From) : IDeadLetterSuppression;

    private sealed record ReceiveFailed(Exception Cause) : IDeadLetterSuppression;

    public UdpForwardActor(ForwardSpec spec, Socket socket, IActorRef gateway, ForwardingSettings settings, DropCounters drops)
    {
        _spec = spec;
        _socket = socket;
        _gateway = gateway;
        _settings = settings;
        _drops = drops;
        _buffer = new byte[settings.UdpMaxDatagram];
        _any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);

        Receive<Received>(r =>
        {
            if (!_flows.TryGetValue(r.From, out var flow))
            {
                if (_flows.Count >= _settings.MaxUdpFlowsPerForward)
                {
                    _drops.Increment(DropReason.ForwardUdpFlowLimit);
                    ReceiveNext();
                    return;
                }
                flow = Context.ActorOf(UdpForwardFlowActor.Props(_socket, r.From, _spec, _gateway, _settings, _drops), $"u{_opened}");
                Context.Watch(flow);
                _flows[r.From] = flow;
                _clients[flow] = r.From;
                _opened++;
                Report();
            }
            flow.Tell(new ClientDatagram(_buffer.AsSpan(0, r.Length).ToArray()));
            ReceiveNext();
        });
        Receive<ReceiveFailed>(f =>
        {
            if (_cts.IsCancellationRequested) return;
            var error = (f.Cause as SocketException)?.SocketErrorCode;
            // An ICMP error for an earlier reply, or a datagram larger than the buffer: about one datagram only.
            if (error is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize
                or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            {
                if (error == SocketError.MessageSize) _drops.Increment(DropReason.ForwardUdpSendFailed);
                ReceiveNext();
                return;
            }
            throw new IOException($"forward {_spec.Key}: the socket failed", f.Cause);
        });
        Receive<Terminated>(t =>
        {
            if (_clients.Remove(t.ActorRef, out var client)) _flows.Remove(client);
            Report();
        });
        Receive<AttachGateway>(a => _gateway = a.Gateway);
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected listener fault"));
    }

    private void Report() => Context.Parent.Tell(new ConnectionCount(_spec.Key, _flows.Count, _opened));

    protected override void PreStart() => ReceiveNext();

    private void ReceiveNext() =>
        _socket.ReceiveFromAsync(_buffer, SocketFlags.None, _any, _cts.Token).AsTask().PipeTo(Self,
            success: r => new Received(r.ReceivedBytes, r.RemoteEndPoint),
            failure: ex => new ReceiveFailed(ex));

    protected override void PostStop()
    {
        _cts.Cancel();
        _socket.Dispose();
        _cts.Dispose();
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        _log.Warning("Forward {Key}: a UDP flow failed and was closed: {Error}", _spec.Key, ex.Message);
        return Directive.Stop;
    });

    public static Props Props(ForwardSpec spec, Socket socket, IActorRef gateway, ForwardingSettings settings, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new UdpForwardActor(spec, socket, gateway, settings, drops));
}

/// <summary>
/// One client of a udp forward: its datagrams go to the guest through the gateway's UDP forward service (from the
/// flow's own .1 port), the guest's replies go back to the client on the forward's socket. Stops after the idle timeout.
/// </summary>
public sealed class UdpForwardFlowActor : ReceiveActor, IWithTimers
{
    private readonly Socket _socket;
    private readonly EndPoint _client;
    private readonly ForwardSpec _spec;
    private readonly IActorRef _gateway;
    private readonly ForwardingSettings _settings;
    private readonly DropCounters _drops;
    private DateTimeOffset _last;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    public UdpForwardFlowActor(Socket socket, EndPoint client, ForwardSpec spec, IActorRef gateway, ForwardingSettings settings, DropCounters drops)
    {
        _socket = socket;
        _client = client;
        _spec = spec;
        _gateway = gateway;
        _settings = settings;
        _drops = drops;

        Receive<ClientDatagram>(d =>
        {
            _last = Now;
            _gateway.Tell(new GatewayProtocol.ToService(GatewayService.UdpForward, new SendToGuest(_spec.Guest, _spec.GuestPort, d.Payload)));
        });
        Receive<GuestDatagram>(g =>
        {
            _last = Now;
            try
            {
                _socket.SendTo(g.Payload, SocketFlags.None, _client);
            }
            catch (SocketException)
            {
                _drops.Increment(DropReason.ForwardUdpSendFailed);
            }
        });
        Receive<GatewayProtocol.ServiceUnavailable>(_ => _drops.Increment(DropReason.ForwardUdpSendFailed));
        Receive<IdleCheck>(_ =>
        {
            var idle = Now - _last;
            if (idle >= _settings.UdpIdleTimeout) Context.Stop(Self);
            else Timers.StartSingleTimer("idle", IdleCheck.Instance, _settings.UdpIdleTimeout - idle);
        });
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected flow fault"));
    }

    private DateTimeOffset Now => Context.System.Scheduler.Now;

    protected override void PreStart()
    {
        _last = Now;
        Timers.StartSingleTimer("idle", IdleCheck.Instance, _settings.UdpIdleTimeout);
    }

    public static Props Props(Socket socket, EndPoint client, ForwardSpec spec, IActorRef gateway, ForwardingSettings settings, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new UdpForwardFlowActor(socket, client, spec, gateway, settings, drops));
}
