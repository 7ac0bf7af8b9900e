using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// One relayed TCP connection: the accepted client ⇄ upstream:port. States: connecting (bounded by the connect
/// timeout; failure resets the client) → relaying. Each direction has one bounded buffer and one read or one
/// write in flight. An EOF in one direction becomes shutdown(SHUT_WR) on the other socket, so half-close is
/// preserved (the original closed both sockets, spec §9); the actor stops once both directions have ended.
/// A reset or error on either side aborts both.
/// </summary>
public sealed class TcpRelayActor : ReceiveActor, IWithTimers
{
    private enum Direction
    {
        ClientToUpstream,
        UpstreamToClient,
    }

    private sealed record Connected : WslProxyProtocol.SocketCompletion;

    private sealed record ConnectFailed(Exception Error) : WslProxyProtocol.SocketCompletion;

    private sealed record ConnectTimedOut
    {
        public static readonly ConnectTimedOut Instance = new();
    }

    private sealed record ReadDone(Direction Direction, int Count) : WslProxyProtocol.SocketCompletion;

    private sealed record WriteDone(Direction Direction, int Count) : WslProxyProtocol.SocketCompletion;

    private sealed record IoFailed(Direction Direction, string Operation, Exception Error) : WslProxyProtocol.SocketCompletion;

    private readonly Socket _client;
    private readonly Socket _upstream;
    private readonly IPEndPoint _upstreamEndPoint;
    private readonly WslProxySettings _settings;
    private readonly DropCounters _drops;
    private readonly string _name;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public TcpRelayActor(Socket client, IPEndPoint upstream, WslProxySettings settings, DropCounters drops)
    {
        _client = client;
        _upstreamEndPoint = upstream;
        _settings = settings;
        _drops = drops;
        _upstream = new Socket(upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _client.NoDelay = true;
        _name = $"{SafeRemote(client)} → {upstream}";
        Connecting();
    }

    protected override void PreStart()
    {
        Timers.StartSingleTimer("connect", ConnectTimedOut.Instance, _settings.ConnectTimeout);
        _upstream.ConnectAsync(_upstreamEndPoint).PipeTo(Self, success: () => new Connected(), failure: e => new ConnectFailed(e));
    }

    private void Connecting()
    {
        Receive<Connected>(_ =>
        {
            Timers.Cancel("connect");
            _log.Debug("Relaying {Relay}", _name);
            Become(Relaying);
        });
        Receive<ConnectFailed>(f => FailConnect(f.Error is SocketException se ? $"{se.SocketErrorCode} ({se.Message})" : f.Error.Message));
        Receive<ConnectTimedOut>(_ => FailConnect($"no answer within {_settings.ConnectTimeout.TotalSeconds:0.###} s (rdnet.wsl-proxy.connect-timeout)"));
    }

    private void FailConnect(string reason)
    {
        _drops.Increment(DropReason.WslProxyUpstreamConnectFailed);
        _log.Warning("Connecting to upstream {Upstream} for {Client} failed: {Reason}; resetting the client", _upstreamEndPoint, SafeRemote(_client), reason);
        ProxySockets.Abort(_client);
        Context.Stop(Self);
    }

    private void Relaying()
    {
        var toUpstream = new Pump(_client, _upstream, new byte[_settings.RelayBufferBytes]);
        var toClient = new Pump(_upstream, _client, new byte[_settings.RelayBufferBytes]);
        Pump Of(Direction d) => d == Direction.ClientToUpstream ? toUpstream : toClient;

        void ReadNext(Direction d)
        {
            var p = Of(d);
            p.From.ReceiveAsync(p.Buffer, SocketFlags.None)
                .PipeTo(Self, success: n => new ReadDone(d, n), failure: e => new IoFailed(d, "read", e));
        }

        void WriteOut(Direction d, int offset, int count)
        {
            var p = Of(d);
            p.To.SendAsync(p.Buffer.AsMemory(offset, count), SocketFlags.None).AsTask()
                .PipeTo(Self, success: n => new WriteDone(d, n), failure: e => new IoFailed(d, "write", e));
        }

        Receive<ReadDone>(r =>
        {
            var p = Of(r.Direction);
            if (r.Count == 0)
            {
                // End of data one way: pass the FIN on and keep the other direction running (half-close).
                p.Done = true;
                try
                {
                    p.To.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    // The peer is already gone; the other direction will see it.
                }
                if (toUpstream.Done && toClient.Done) Context.Stop(Self);
                return;
            }
            p.Pending = r.Count;
            p.Offset = 0;
            WriteOut(r.Direction, 0, r.Count);
        });
        Receive<WriteDone>(w =>
        {
            var p = Of(w.Direction);
            p.Offset += w.Count;
            p.Pending -= w.Count;
            if (p.Pending > 0) WriteOut(w.Direction, p.Offset, p.Pending);
            else ReadNext(w.Direction);
        });
        Receive<IoFailed>(f =>
        {
            var reason = f.Error is SocketException se ? se.SocketErrorCode.ToString() : f.Error.GetType().Name;
            _log.Debug("Relay {Relay}: {Operation} {Direction} failed ({Reason}); aborting both sides", _name, f.Operation, f.Direction, reason);
            ProxySockets.Abort(_client);
            ProxySockets.Abort(_upstream);
            Context.Stop(Self);
        });

        ReadNext(Direction.ClientToUpstream);
        ReadNext(Direction.UpstreamToClient);
    }

    protected override void PostStop()
    {
        _client.Dispose();
        _upstream.Dispose();
    }

    private static string SafeRemote(Socket s)
    {
        try
        {
            return s.RemoteEndPoint?.ToString() ?? "?";
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return "?";
        }
    }

    private sealed class Pump(Socket from, Socket to, byte[] buffer)
    {
        public Socket From { get; } = from;
        public Socket To { get; } = to;
        public byte[] Buffer { get; } = buffer;
        public int Offset { get; set; }
        public int Pending { get; set; }
        public bool Done { get; set; }
    }

    public static Props Props(Socket client, IPEndPoint upstream, WslProxySettings settings, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new TcpRelayActor(client, upstream, settings, drops));
}
