using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Gateway;
using RdNet.Actors.Tcp;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Forwarding;

/// <summary>
/// One tcp or unix forward: owns the bound host listener and accepts on it; every accepted connection is one child
/// <see cref="ForwardedConnectionActor"/>. A connection actor that fails is stopped (its connection reset) and the
/// listener keeps accepting. A listener error that is not about one connection fails this actor, and the forwarder
/// removes the forward. Stopping closes the listener (and a unix forward's socket file) and every connection.
/// </summary>
public sealed class TcpForwardActor : ReceiveActor, IWithTimers
{
    private readonly ForwardSpec _spec;
    private readonly Socket _listener;
    private readonly ForwardingSettings _settings;
    private readonly DropCounters _drops;
    private readonly CancellationTokenSource _cts = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _gateway;
    private int _open;
    private long _accepted;
    // The accept in progress, until its result is received: one that completes as the actor stops would leave its
    // socket in a dead letter, so PostStop closes whatever it yields.
    private Task<Socket>? _accepting;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Accepted(Socket Socket) : IDeadLetterSuppression;

    private sealed record AcceptFailed(Exception Cause) : IDeadLetterSuppression;

    private sealed record AcceptAgain
    {
        public static readonly AcceptAgain Instance = new();
    }

    public TcpForwardActor(ForwardSpec spec, Socket listener, IActorRef gateway, ForwardingSettings settings, DropCounters drops)
    {
        _spec = spec;
        _listener = listener;
        _gateway = gateway;
        _settings = settings;
        _drops = drops;

        Receive<Accepted>(a =>
        {
            _accepting = null;
            if (_open >= _settings.MaxConnectionsPerForward)
            {
                _drops.Increment(DropReason.ForwardConnectionLimit);
                a.Socket.Dispose();
            }
            else
            {
                var child = Context.ActorOf(ForwardedConnectionActor.Props(a.Socket, _spec, _gateway, _settings), $"c{_accepted}");
                Context.Watch(child);
                _open++;
                _accepted++;
                Report();
            }
            AcceptNext();
        });
        Receive<AcceptFailed>(f =>
        {
            _accepting = null;
            if (_cts.IsCancellationRequested) return;
            var error = (f.Cause as SocketException)?.SocketErrorCode;
            switch (error)
            {
                // About one connection (it went away before accept), or out of descriptors for now: keep listening.
                case SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted:
                    AcceptNext();
                    break;
                case SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable:
                    _log.Warning("Forward {Key}: accept failed ({Error}); trying again in 1 s", _spec.Key, error);
                    Timers.StartSingleTimer("accept", AcceptAgain.Instance, TimeSpan.FromSeconds(1));
                    break;
                default:
                    throw new IOException($"forward {_spec.Key}: the listener failed", f.Cause);
            }
        });
        Receive<AcceptAgain>(_ => AcceptNext());
        Receive<Terminated>(_ =>
        {
            _open--;
            Report();
        });
        Receive<AttachGateway>(a => _gateway = a.Gateway);
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected listener fault"));
    }

    private void Report() => Context.Parent.Tell(new ConnectionCount(_spec.Key, _open, _accepted));

    protected override void PreStart() => AcceptNext();

    private void AcceptNext()
    {
        _accepting = _listener.AcceptAsync(_cts.Token).AsTask();
        _accepting.PipeTo(Self, success: s => new Accepted(s), failure: ex => new AcceptFailed(ex));
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _listener.Dispose();
        _accepting?.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully) t.Result.Dispose();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (_spec.Protocol == ForwardProtocol.Unix)
        {
            try
            {
                File.Delete(_spec.Path!);
            }
            catch (IOException)
            {
                // Replaced or removed by someone else meanwhile: not ours to clean.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        _cts.Dispose();
    }

    // A forwarded connection that throws is stopped alone: its PostStop resets both sides.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        _log.Warning("Forward {Key}: a connection failed and was closed: {Error}", _spec.Key, ex.Message);
        return Directive.Stop;
    });

    public static Props Props(ForwardSpec spec, Socket listener, IActorRef gateway, ForwardingSettings settings, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new TcpForwardActor(spec, listener, gateway, settings, drops));
}

/// <summary>
/// One accepted host connection of a forward. It hands the socket to the gateway's TCP stack, which dials the guest
/// from .1 (<see cref="TcpNatProtocol.DialGuest"/>) and copies both ways in a flow actor; this actor then represents
/// the connection in its forward: it stops when the flow ends, and stopping it (unexpose, failure) stops the flow,
/// which resets both sides. The socket has one owner that disposes it: this actor until the dial is sent, then the
/// stack (which closes what it refuses, and whose flow closes the rest) — unless the gateway hands the dial back
/// (<see cref="GatewayProtocol.ServiceUnavailable"/>). No answer within rdnet.forwarding.dial-answer-timeout shuts the
/// client's connection down (it sees the close) but leaves the socket to the stack, whose answer may still come: a
/// flow that starts after the timeout is stopped at once; after a second timeout the actor stops.
/// </summary>
public sealed class ForwardedConnectionActor : ReceiveActor, IWithTimers
{
    private readonly Socket _client;
    private readonly ForwardSpec _spec;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _gateway;
    private readonly ForwardingSettings _settings;
    private IActorRef? _flow;
    private bool _ownSocket = true;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record AnswerTimeout
    {
        public static readonly AnswerTimeout Instance = new();
    }

    public ForwardedConnectionActor(Socket client, ForwardSpec spec, IActorRef gateway, ForwardingSettings settings)
    {
        _client = client;
        _spec = spec;
        _gateway = gateway;
        _settings = settings;
        Dialling();
    }

    private void Dialling()
    {
        Receive<TcpNatProtocol.GuestDialStarted>(s =>
        {
            Timers.Cancel("answer");
            _flow = s.Flow;
            Context.Watch(s.Flow);
            Become(Carried);
        });
        ReceiveAnswersEndingTheDial();
        Receive<AnswerTimeout>(_ =>
        {
            _log.Warning("Forward {Key}: the TCP stack did not take the connection within {Timeout}; closed", _spec.Key, _settings.DialAnswerTimeout);
            ShutDownClient();
            Timers.StartSingleTimer("answer", AnswerTimeout.Instance, _settings.DialAnswerTimeout);
            Become(GivenUp);
        });
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected connection fault"));
    }

    private void Carried()
    {
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_flow)) return;
            _flow = null; // it closed the socket
            Context.Stop(Self);
        });
        Receive<InjectFault>(_ => throw new InvalidOperationException("injected connection fault"));
    }

    /// <summary>The client was shut down; the stack may still hold the socket, so it may still answer.</summary>
    private void GivenUp()
    {
        Receive<TcpNatProtocol.GuestDialStarted>(s =>
        {
            s.Flow.Tell(PoisonPill.Instance); // it closes the socket
            Context.Stop(Self);
        });
        ReceiveAnswersEndingTheDial();
        Receive<AnswerTimeout>(_ =>
        {
            // Still no answer: the dial is the stack's (or lost with it); the socket is not ours to close.
            Context.Stop(Self);
        });
    }

    private void ReceiveAnswersEndingTheDial()
    {
        Receive<TcpNatProtocol.GuestDialRefused>(r =>
        {
            _log.Debug("Forward {Key}: connection not carried: {Reason}", _spec.Key, r.Reason);
            Context.Stop(Self); // the stack closed the socket
        });
        Receive<GatewayProtocol.ServiceUnavailable>(_ =>
        {
            _log.Debug("Forward {Key}: the gateway's TCP stack is not up; connection closed", _spec.Key);
            _ownSocket = true; // handed back with the dial
            Context.Stop(Self);
        });
    }

    protected override void PreStart()
    {
        if (_client.AddressFamily != AddressFamily.Unix) _client.NoDelay = true;
        if (_gateway.IsNobody())
        {
            Context.Stop(Self); // no gateway attached yet: nobody to hand the socket to
            return;
        }
        _ownSocket = false;
        _gateway.Tell(new GatewayProtocol.ToService(GatewayService.Tcp,
            new TcpNatProtocol.DialGuest(_client, _spec.Guest, _spec.GuestPort, _settings.GatewayPortFirst, _settings.GatewayPortLast)));
        Timers.StartSingleTimer("answer", AnswerTimeout.Instance, _settings.DialAnswerTimeout);
    }

    protected override void PostStop()
    {
        if (_flow is not null)
        {
            _flow.Tell(PoisonPill.Instance); // the flow resets the guest side and closes the socket
        }
        else if (_ownSocket)
        {
            _client.Dispose();
        }
        else
        {
            // Stopped (unexpose, failure) while the dial is with the stack: the client sees the close now, and a flow
            // that still starts reads the end at once and closes the socket it owns.
            ShutDownClient();
        }
    }

    /// <summary>Ends the connection without closing the descriptor, which may belong to the stack by now.</summary>
    private void ShutDownClient()
    {
        try
        {
            _client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed by the stack (its answer is on the way) or reset by the peer.
        }
    }

    public static Props Props(Socket client, ForwardSpec spec, IActorRef gateway, ForwardingSettings settings) =>
        Akka.Actor.Props.Create(() => new ForwardedConnectionActor(client, spec, gateway, settings));
}
