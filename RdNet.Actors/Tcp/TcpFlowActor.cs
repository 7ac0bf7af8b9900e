using System.Net.Sockets;
using Akka.Actor;
using RdNet.Actors.Infrastructure;
using Akka.Event;
using RdNet.Actors.Gateway;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;
using static RdNet.Actors.Tcp.TcpNatProtocol;

namespace RdNet.Actors.Tcp;

/// <summary>
/// One guest TCP connection carried over one host socket. The connection's engine (<see cref="TcpConnection"/>)
/// talks to the guest; its two rings are the only buffers: host reads land directly in the send ring, host writes go
/// straight out of the receive ring, so the guest's advertised window is what the host socket has not accepted yet.
/// Host connect first, SYN-ACK after (refused or timed out → RST). Each direction closes on its own (half-close is
/// preserved: a guest FIN becomes shutdown(SHUT_WR) on the host socket and vice versa). Every socket completion is a
/// message to this actor; timers drive retransmission, TIME-WAIT and idle cleanup. When stopped for any reason
/// before an orderly close, the guest gets a RST and the host socket is reset.
/// </summary>
public sealed class TcpFlowActor : GuestFrameActor, IWithTimers
{
    private readonly FlowKey _key;
    private readonly FlowTarget _target;
    private readonly TcpNatSettings _settings;
    private readonly DropCounters _drops;
    private readonly TcpFrameWriter _writer;
    private readonly CancellationTokenSource _cts = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private TcpConnection? _conn;
    private Socket? _socket;
    private bool _readPending, _writePending, _hostEof, _hostShutdown, _reopening, _pumpQueued, _hostReadable, _zeroRead;
    private long _scheduled = TcpConnection.Never;
    private long _lastActivity;
    private long _finWait2Since = -1;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Connected
    {
        public static readonly Connected Instance = new();
    }

    private sealed record ConnectFailed(string Reason);

    private sealed record ConnectTimedOut
    {
        public static readonly ConnectTimedOut Instance = new();
    }

    private sealed record HostRead(int Bytes);

    private sealed record HostWrote(int Bytes);

    private sealed record HostReadable
    {
        public static readonly HostReadable Instance = new();
    }

    private sealed record HostIoFailed(string Operation, string Reason);

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record PumpQueued
    {
        public static readonly PumpQueued Instance = new();
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    public TcpFlowActor(FlowKey key, MacAddress guestMac, FrameBuffer syn, FlowTarget target, TcpNatSettings settings,
        VirtualNetwork network, FramePool pool, IFrameSink sink, DropCounters drops)
    {
        _key = key;
        _target = target;
        _settings = settings;
        _drops = drops;
        _writer = new TcpFrameWriter(pool, sink, drops, guestMac, network.GatewayMac, key.Remote, key.RemotePort, key.Guest, key.GuestPort);
        if (target is HostConnecting started) _socket = started.Socket; // ours from here on, whatever happens next
        try
        {
            if (TryParse(syn, out var seg))
                _conn = TcpConnection.Listen(settings.Engine(network.Mtu), drops, TcpSegmentIn.From(seg), new SeqNum((uint)Random.Shared.NextInt64()), Now);
        }
        finally
        {
            syn.Release();
        }
        Become(Connecting);
    }

    /// <summary>
    /// Port forwarding (issue #6): an active open from the gateway into the guest for <paramref name="host"/>, a host
    /// connection a forward accepted. The SYN goes out at start; the guest's SYN-ACK opens the copy both ways; a RST,
    /// or no answer within rdnet.tcp.connect-timeout, resets the host connection.
    /// </summary>
    public TcpFlowActor(FlowKey key, MacAddress guestMac, Socket host, TcpNatSettings settings,
        VirtualNetwork network, FramePool pool, IFrameSink sink, DropCounters drops)
    {
        _key = key;
        _target = new AcceptedHost(host);
        _settings = settings;
        _drops = drops;
        _writer = new TcpFrameWriter(pool, sink, drops, guestMac, network.GatewayMac, key.Remote, key.RemotePort, key.Guest, key.GuestPort);
        _socket = host;
        _conn = TcpConnection.Connect(settings.Engine(network.Mtu), drops, new SeqNum((uint)Random.Shared.NextInt64()), Now);
        Become(Dialing);
    }

    private static long Now => Environment.TickCount64;

    protected override void PreStart()
    {
        if (_conn is null)
        {
            Context.Stop(Self);
            return;
        }
        _lastActivity = Now;
        switch (_target)
        {
            case HostConnecting { Connect.IsCompletedSuccessfully: true }:
                Self.Tell(Connected.Instance); // connected in the NAT's turn (loopback): SYN-ACK in this same run
                break;
            case HostConnecting started:
                started.Connect.PipeTo(Self,
                    success: () => Connected.Instance,
                    failure: ex => new ConnectFailed(Describe(ex)));
                Timers.StartSingleTimer("connect", ConnectTimedOut.Instance, _settings.ConnectTimeout);
                break;
            case LocalTarget local:
                var (ours, theirs) = SocketPair.CreateStream();
                _socket = ours;
                local.Service.Tell(new GatewayProtocol.LocalStreamAccepted(theirs, _key.Guest, _key.GuestPort, local.Port));
                Self.Tell(Connected.Instance);
                break;
            case AcceptedHost:
                Timers.StartSingleTimer("connect", ConnectTimedOut.Instance, _settings.ConnectTimeout);
                PollDial();
                break;
        }
        Timers.StartPeriodicTimer("idle", IdleCheck.Instance, _settings.IdleCheckInterval);
    }

    private void Connecting()
    {
        Receive<Connected>(_ =>
        {
            Timers.Cancel("connect");
            Context.Parent.Tell(new ConnectDone(_key));
            _conn!.Accept();
            Become(Open);
            Pump();
        });
        Receive<ConnectFailed>(f =>
        {
            _drops.Increment(DropReason.TcpNatConnectFailed);
            _log.Debug("Flow {Flow}: host connect failed ({Reason}); RST to the guest", _key, f.Reason);
            Refuse();
        });
        Receive<ConnectTimedOut>(_ =>
        {
            _drops.Increment(DropReason.TcpNatConnectTimeout);
            _log.Debug("Flow {Flow}: host connect timed out after {Timeout}; RST to the guest", _key, _settings.ConnectTimeout);
            Refuse();
        });
        Receive<FrameBuffer>(f =>
        {
            OnGuestSegment(f);
            if (_conn!.IsClosed) Context.Stop(Self); // the guest gave up (RST)
        });
        Receive<Tick>(_ => { });
        Receive<IdleCheck>(_ => { });
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected fault"));
    }

    /// <summary>Active open into the guest: SYN sent, waiting for its SYN-ACK.</summary>
    private void Dialing()
    {
        Receive<FrameBuffer>(f =>
        {
            OnGuestSegment(f);
            var conn = _conn!;
            if (conn.IsEstablished)
            {
                Timers.Cancel("connect");
                Context.Parent.Tell(new ConnectDone(_key));
                Become(Open);
                Pump();
            }
            else if (conn.IsClosed)
            {
                _drops.Increment(DropReason.ForwardGuestRefused);
                _log.Debug("Flow {Flow}: the guest refused the forwarded connection ({Error})", _key, conn.Error);
                Context.Stop(Self);
            }
            else
            {
                PollDial();
            }
        });
        Receive<Tick>(_ =>
        {
            _scheduled = TcpConnection.Never;
            PollDial();
        });
        Receive<ConnectTimedOut>(_ =>
        {
            _drops.Increment(DropReason.ForwardGuestDialTimeout);
            _log.Debug("Flow {Flow}: the guest did not answer within {Timeout}; forwarded connection reset", _key, _settings.ConnectTimeout);
            Refuse();
        });
        Receive<IdleCheck>(_ => { });
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected fault"));
    }

    /// <summary>Sends the SYN (and its retransmissions) of an active open and schedules the next one.</summary>
    private void PollDial()
    {
        var conn = _conn!;
        long now = Now;
        conn.Poll(now, _writer);
        if (conn.IsClosed)
        {
            _drops.Increment(DropReason.ForwardGuestDialTimeout); // SYN retransmissions exhausted
            Context.Stop(Self);
            return;
        }
        long deadline = conn.NextDeadline;
        if (_writer.Refused > 0)
        {
            _writer.Refused = 0;
            deadline = Math.Min(deadline, now + 5);
        }
        if (deadline != TcpConnection.Never && (deadline < _scheduled || _scheduled == TcpConnection.Never))
        {
            _scheduled = deadline;
            Timers.StartSingleTimer("tcp", Tick.Instance, TimeSpan.FromMilliseconds(Math.Max(1, deadline - now)));
        }
    }

    private void Refuse()
    {
        _cts.Cancel();
        _conn!.Abort(_writer);
        Context.Stop(Self);
    }

    private void Open()
    {
        Receive<FrameBuffer>(f =>
        {
            OnGuestSegment(f);
            // Segments already queued behind this one are taken first; one Pump then acknowledges them all and
            // writes their data to the host socket in one call.
            if (!_reopening && !_pumpQueued)
            {
                _pumpQueued = true;
                Self.Tell(PumpQueued.Instance);
            }
        });
        Receive<PumpQueued>(_ =>
        {
            _pumpQueued = false;
            Pump();
        });
        Receive<HostRead>(r =>
        {
            _readPending = false;
            OnHostRead(r.Bytes, Now); // 0: the host half-closed; FIN to the guest after the buffered data
            Pump();
        });
        Receive<HostReadable>(_ =>
        {
            _readPending = false;
            _hostReadable = true; // data or EOF is waiting: the next read goes into the ring
            Pump();
        });
        Receive<HostWrote>(w =>
        {
            _writePending = false;
            OnHostWrote(w.Bytes, Now);
            Pump();
        });
        Receive<HostIoFailed>(f =>
        {
            if (f.Operation == "read") _readPending = false;
            else _writePending = false;
            _log.Debug("Flow {Flow}: host {Operation} failed ({Reason}); RST to the guest", _key, f.Operation, f.Reason);
            _conn!.Abort(_writer);
            Finish();
        });
        Receive<Tick>(_ =>
        {
            _scheduled = TcpConnection.Never;
            Pump();
        });
        Receive<IdleCheck>(_ => CheckIdle());
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected fault"));
    }

    private static bool TryParse(FrameBuffer frame, out TcpSegment segment)
    {
        segment = default;
        return EthernetFrame.TryCreate(frame.Span, out var eth, out _)
               && Ipv4Packet.TryCreate(eth.Payload, out var ip, out _)
               && TcpSegment.TryCreateVerified(ip.Payload, out segment);
    }

    private void OnGuestSegment(FrameBuffer frame)
    {
        try
        {
            if (_conn is null || !TryParse(frame, out var seg)) return; // validated by the NAT already
            _lastActivity = Now;
            var result = _conn.Receive(TcpSegmentIn.From(seg), Now, _writer);
            if (result == TcpInputResult.ReopenFromTimeWait)
            {
                // RFC 6191: the SYN starts a new incarnation of this 4-tuple; the NAT opens it as a new flow.
                _reopening = true;
                frame.Retain();
                Context.Parent.Tell(new Reopen(_key, frame));
                Context.Stop(Self);
            }
        }
        finally
        {
            frame.Release();
        }
    }

    private const int MaxPumpRounds = 8;

    /// <summary>
    /// Runs the engine and keeps both socket directions moving; stops the flow when both sides are done. A socket
    /// call that completes at once (the usual case: room in the host socket's buffer, data already waiting) is taken
    /// in line and the engine runs again, so a segment costs no message, task or wake-up of its own; only a call that
    /// has to wait becomes a message when it completes.
    /// </summary>
    private void Pump()
    {
        var conn = _conn!;
        var socket = _socket!;
        long now = Now;
        // Bounded: a peer that keeps both directions busy yields the actor's thread after a few rounds and carries
        // on with its next message.
        for (var round = 0; ; round++)
        {
            if (round == MaxPumpRounds)
            {
                conn.Poll(now, _writer);
                if (!_pumpQueued)
                {
                    _pumpQueued = true;
                    Self.Tell(PumpQueued.Instance);
                }
                break;
            }
            conn.Poll(now, _writer);
            bool progressed = false;

            // Guest → host: write straight from the receive ring; the guest's FIN becomes shutdown(SHUT_WR).
            if (!_writePending && conn.ReceivedCount > 0)
            {
                var write = socket.SendAsync(conn.Received, SocketFlags.None, _cts.Token);
                if (write.IsCompletedSuccessfully)
                {
                    OnHostWrote(write.Result, now);
                    progressed = true;
                }
                else
                {
                    _writePending = true;
                    ReportWhenDone(write, static n => new HostWrote(n), "write");
                }
            }
            else if (!_writePending && conn.ReceivedCount == 0 && conn.PeerFinished && !_hostShutdown)
            {
                _hostShutdown = true;
                try
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    // The host side is gone already; its read will report it.
                }
            }

            if (conn.IsClosed)
            {
                if (conn.Error != TcpError.None || (!_writePending && conn.ReceivedCount == 0)) Finish();
                return;
            }

            // Host → guest: read straight into the send ring while it has room. With the ring empty, a zero-byte
            // read waits for data first, so an idle connection holds no ring storage (it goes back to the pool).
            if (!_readPending && !_hostEof && conn.SendFree > 0)
            {
                if (conn.SendBuffered == 0 && !_hostReadable)
                {
                    conn.ReleaseIdleSendBuffer();
                    var wait = socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, _cts.Token);
                    if (wait.IsCompletedSuccessfully)
                    {
                        _ = wait.Result;
                        _hostReadable = true;
                        progressed = true;
                    }
                    else
                    {
                        _readPending = true;
                        _zeroRead = true;
                        ReportWhenDone(wait, static _ => HostReadable.Instance, "read");
                    }
                }
                else
                {
                    _hostReadable = false;
                    var read = socket.ReceiveAsync(conn.SendWritable, SocketFlags.None, _cts.Token);
                    if (read.IsCompletedSuccessfully)
                    {
                        OnHostRead(read.Result, now);
                        progressed = true;
                    }
                    else
                    {
                        _readPending = true;
                        _zeroRead = false;
                        ReportWhenDone(read, static n => new HostRead(n), "read");
                    }
                }
            }
            if (!progressed) break;
        }
        if (!_writePending && conn.ReceivedCount == 0) conn.ReleaseIdleReceiveBuffer();

        if (conn.State == TcpState.FinWait2 && _finWait2Since < 0) _finWait2Since = now;

        long deadline = conn.NextDeadline;
        if (_writer.Refused > 0)
        {
            _writer.Refused = 0; // no frame buffer was free: try again shortly
            deadline = Math.Min(deadline, now + 5);
        }
        if (deadline != TcpConnection.Never && (deadline < _scheduled || _scheduled == TcpConnection.Never))
        {
            _scheduled = deadline;
            Timers.StartSingleTimer("tcp", Tick.Instance, TimeSpan.FromMilliseconds(Math.Max(1, deadline - now)));
        }
    }

    /// <summary>Bytes the host socket accepted from the receive ring: they leave it, which opens the guest's window.</summary>
    private void OnHostWrote(int bytes, long now)
    {
        _lastActivity = now;
        _conn!.ConsumeReceived(bytes);
    }

    /// <summary>Bytes read from the host into the send ring, or its end of stream (0): FIN to the guest after the data.</summary>
    private void OnHostRead(int bytes, long now)
    {
        _lastActivity = now;
        if (bytes == 0)
        {
            _hostEof = true;
            _conn!.ShutdownSend();
        }
        else
        {
            _conn!.CommitSend(bytes);
        }
    }

    /// <summary>
    /// A host socket call that has to wait reports to this flow when it completes, from the thread that completed it
    /// (the socket engine's): in line there when the flow is idle (<see cref="InlineDispatcher"/>), so data that
    /// arrives on the host socket reaches the guest without another thread's wake-up.
    /// </summary>
    private void ReportWhenDone(ValueTask<int> operation, Func<int, object> success, string name)
    {
        var self = Self;
        operation.AsTask().ContinueWith(t =>
        {
            object message = t.IsCompletedSuccessfully
                ? success(t.Result)
                : new HostIoFailed(name, t.Exception?.GetBaseException() is { } ex ? Describe(ex) : nameof(TaskCanceledException));
            using (InlineDispatcher.RunHere()) self.Tell(message, ActorRefs.NoSender);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A host socket failure as logged: the socket error's name, or the exception's type.</summary>
    internal static string Describe(Exception ex) => ex is SocketException se ? se.SocketErrorCode.ToString() : ex.GetType().Name;

    private void CheckIdle()
    {
        long now = Now;
        bool idle = now - _lastActivity > (long)_settings.IdleTimeout.TotalMilliseconds;
        bool finWait = _finWait2Since >= 0 && now - _finWait2Since > (long)_settings.FinWaitTimeout.TotalMilliseconds
                       && _conn!.State == TcpState.FinWait2;
        if (!idle && !finWait) return;
        _log.Debug("Flow {Flow}: {Why}; reset", _key, idle ? "idle" : "FIN-WAIT-2 too long");
        _conn!.Abort(_writer);
        Finish();
    }

    private void Finish() => Context.Stop(Self);

    protected override void PostStop()
    {
        var conn = _conn;
        if (conn is not null && !conn.IsClosed && !_reopening)
        {
            conn.Abort(_writer); // stopped before an orderly close (failure, idle, shutdown): reset the guest side
        }
        _cts.Cancel();
        if (_socket is { } s)
        {
            try
            {
                if (conn is null || conn.Error != TcpError.None || _reopening) s.LingerState = new LingerOption(true, 0); // RST to the host peer
            }
            catch (SocketException)
            {
                // Not connected: nothing to reset.
            }
            catch (ObjectDisposedException)
            {
            }
            s.Dispose();
        }
        // The rings go back to the pool only when no socket operation can still touch them.
        if (conn is not null && (!_readPending || _zeroRead) && !_writePending) conn.Dispose();
        _cts.Dispose();
    }

    public static Props Props(FlowKey key, MacAddress guestMac, FrameBuffer syn, FlowTarget target, TcpNatSettings settings,
        VirtualNetwork network, FramePool pool, IFrameSink sink, DropCounters drops) =>
        OnDispatcher(Akka.Actor.Props.CreateBy(new Producer(() => new TcpFlowActor(key, guestMac, syn, target, settings, network, pool, sink, drops))), settings);

    /// <summary>A flow that dials the guest for an accepted host connection (port forwarding); owns <paramref name="host"/>.</summary>
    public static Props PropsDial(FlowKey key, MacAddress guestMac, Socket host, TcpNatSettings settings,
        VirtualNetwork network, FramePool pool, IFrameSink sink, DropCounters drops) =>
        OnDispatcher(Akka.Actor.Props.CreateBy(new Producer(() => new TcpFlowActor(key, guestMac, host, settings, network, pool, sink, drops))), settings);

    /// <summary>Flows run in line (<see cref="TcpNatSettings.RunFlowsInLine"/>; the NAT registers the dispatcher) or on Akka's default dispatcher.</summary>
    private static Props OnDispatcher(Props props, TcpNatSettings settings) =>
        settings.RunFlowsInLine ? props.WithDispatcher(InlineDispatcher.Id) : props;

    /// <summary>
    /// Creates a flow with a plain constructor call. Neither of Akka's usual forms is free per connection: the expression
    /// form evaluates its argument expressions, the argument-array form finds the constructor by reflection.
    /// </summary>
    private sealed class Producer(Func<TcpFlowActor> create) : IIndirectActorProducer
    {
        public Type ActorType => typeof(TcpFlowActor);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }
}
