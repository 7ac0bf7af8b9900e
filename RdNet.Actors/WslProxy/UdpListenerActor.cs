using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// Owns the socket of one UDP mapping. Each client address:port gets a <see cref="UdpFlowActor"/> child with its
/// own connected socket to upstream:port, so replies go back to the client that asked (the original relayed one
/// way only, spec §6.3). One receive buffer (sized by --udpBuffer, at most 64 KiB) is reused; each datagram is
/// handed to its flow as an array of exactly its length. The flow table is capped (new clients beyond it are a
/// counted drop). A receive failure throws: the backoff supervisor restarts the listener.
/// </summary>
public sealed class UdpListenerActor : ReceiveActor
{
    private sealed record Received(int Count, EndPoint Client) : SocketCompletion;

    private sealed record ReceiveFailed(Exception Error) : SocketCompletion;

    private readonly ListenerKey _key;
    private readonly IPEndPoint _upstream;
    private readonly WslProxyConfig _config;
    private readonly ListenerIncarnations _incarnations;
    private readonly byte[] _buffer;
    private readonly Dictionary<EndPoint, IActorRef> _flows = [];
    private readonly Dictionary<IActorRef, EndPoint> _clients = [];
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private Socket? _socket;
    private long _flowCount;

    public UdpListenerActor(ListenerKey key, WslProxyConfig config, ListenerIncarnations incarnations)
    {
        _key = key;
        _config = config;
        _incarnations = incarnations;
        _upstream = new IPEndPoint(config.Upstream, key.Port);
        _buffer = new byte[Math.Clamp(config.UdpBufferBytes, 1, 65536)];

        Receive<Received>(r =>
        {
            if (!_flows.TryGetValue(r.Client, out var flow))
            {
                if (_flows.Count >= _config.Settings.MaxUdpFlows)
                {
                    _config.Drops.Increment(DropReason.WslProxyUdpFlowLimit);
                    ReceiveNext();
                    return;
                }
                flow = Context.ActorOf(UdpFlowActor.Props(_socket!, r.Client, _upstream, _config), $"flow-{++_flowCount}");
                Context.Watch(flow);
                _flows[r.Client] = flow;
                _clients[flow] = r.Client;
            }
            flow.Tell(new UdpFlowActor.FromClient(_buffer.AsSpan(0, r.Count).ToArray()));
            ReceiveNext();
        });
        Receive<ReceiveFailed>(f => throw new IOException($"receive on {_key} failed: {f.Error.Message}", f.Error));
        Receive<Terminated>(t =>
        {
            if (_clients.Remove(t.ActorRef, out var client)) _flows.Remove(client);
        });
        Receive<DrainListener>(_ =>
        {
            // UDP has no connection to wait for: the flows end with the socket.
            _log.Info("{Key}: listener closed with {Flows} flows", _key, _flows.Count);
            Context.Stop(Self);
        });
    }

    protected override void PreStart()
    {
        var incarnation = _incarnations.NextIncarnation();
        _socket = _incarnations.TakeBound() ?? (_config.Bind ?? (k => ProxySockets.Bind(k, _config.Settings.ListenBacklog)))(_key);
        if (incarnation > 1) _log.Info("Listener {Key} restarted (incarnation {Incarnation})", _key, incarnation);
        Context.System.EventStream.Publish(new ListenerStarted(_key, incarnation));
        ReceiveNext();
    }

    private void ReceiveNext()
    {
        var any = _socket!.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        // As the TCP listener's accept: a socket that failed under us fails the call itself; that is a ReceiveFailed too.
        Task<SocketReceiveFromResult> receive;
        try { receive = _socket.ReceiveFromAsync(_buffer, SocketFlags.None, any); }
        catch (Exception e) { receive = Task.FromException<SocketReceiveFromResult>(e); }
        receive.PipeTo(Self, success: r => new Received(r.ReceivedBytes, r.RemoteEndPoint), failure: e => new ReceiveFailed(e));
    }

    // A flow that throws is stopped alone.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PostStop() => _socket?.Dispose();

    public static Props Props(ListenerKey key, WslProxyConfig config, ListenerIncarnations incarnations) =>
        Akka.Actor.Props.Create(() => new UdpListenerActor(key, config, incarnations));
}
