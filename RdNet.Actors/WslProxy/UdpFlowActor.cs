using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using static RdNet.Actors.WslProxy.WslProxyProtocol;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// One UDP client of a mapping: datagrams from the client go out on a socket connected to upstream:port; what
/// comes back on it is sent to that client from the listener's socket (so the reply's source is the address the
/// client asked). Closed after the idle timeout with no datagram either way. Sends are synchronous: a UDP send
/// never waits for the peer, the kernel queues or refuses it at once (a refusal is a counted drop).
/// </summary>
public sealed class UdpFlowActor : ReceiveActor, IWithTimers
{
    public sealed record FromClient(byte[] Datagram);

    private sealed record FromUpstream(int Count) : SocketCompletion;

    private sealed record UpstreamFailed(Exception Error) : SocketCompletion;

    private sealed record IdleTimeout
    {
        public static readonly IdleTimeout Instance = new();
    }

    private readonly Socket _listener;
    private readonly EndPoint _client;
    private readonly Socket _upstream;
    private readonly WslProxyConfig _config;
    private readonly byte[] _buffer;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public UdpFlowActor(Socket listener, EndPoint client, IPEndPoint upstream, WslProxyConfig config)
    {
        _listener = listener;
        _client = client;
        _config = config;
        _buffer = new byte[Math.Clamp(config.UdpBufferBytes, 1, 65536)];
        _upstream = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _upstream.Connect(upstream);
        }
        catch
        {
            _upstream.Dispose();
            throw;
        }

        Receive<FromClient>(d =>
        {
            Touch();
            try
            {
                _upstream.Send(d.Datagram, SocketFlags.None);
            }
            catch (SocketException)
            {
                // e.g. ECONNREFUSED reported for an earlier datagram (ICMP port unreachable from upstream).
                _config.Drops.Increment(DropReason.WslProxyUdpSendFailed);
            }
        });
        Receive<FromUpstream>(r =>
        {
            Touch();
            try
            {
                _listener.SendTo(_buffer, 0, r.Count, SocketFlags.None, _client);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                _config.Drops.Increment(DropReason.WslProxyUdpSendFailed);
            }
            ReceiveNext();
        });
        Receive<UpstreamFailed>(f =>
        {
            if (f.Error is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.ConnectionReset })
            {
                // An ICMP error about an earlier datagram: the flow stays, the next datagram may be answered.
                ReceiveNext();
                return;
            }
            _log.Debug("UDP flow {Client}: upstream receive failed ({Error}); closing the flow", _client, f.Error.Message);
            Context.Stop(Self);
        });
        Receive<IdleTimeout>(_ =>
        {
            _log.Debug("UDP flow {Client} idle for {Timeout}; closed", _client, _config.Settings.UdpIdleTimeout);
            Context.Stop(Self);
        });
    }

    protected override void PreStart()
    {
        Touch();
        ReceiveNext();
    }

    private void Touch() => Timers.StartSingleTimer("idle", IdleTimeout.Instance, _config.Settings.UdpIdleTimeout);

    private void ReceiveNext() =>
        _upstream.ReceiveAsync(_buffer, SocketFlags.None)
            .PipeTo(Self, success: n => new FromUpstream(n), failure: e => new UpstreamFailed(e));

    protected override void PostStop() => _upstream.Dispose();

    public static Props Props(Socket listener, EndPoint client, IPEndPoint upstream, WslProxyConfig config) =>
        Akka.Actor.Props.Create(() => new UdpFlowActor(listener, client, upstream, config));
}
