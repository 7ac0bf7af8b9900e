using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Links;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using static RdNet.Actors.Handshake.HandshakeProtocol;

namespace RdNet.Actors.Handshake;

public sealed record GuestHandshakeConfig(LinkEndpoint Handshake, LinkEndpoint HostData, SignatureKind Phrase, HandshakeSettings Settings);

/// <summary>
/// network-setup's side of the handshake (spec §2.3): listen on the handshake endpoint for as long as the process
/// lives, write the phrase to every connection and read what follows. EOF is a probe; READY means the host listens
/// for data, so the data endpoint is dialled (with bounded retries) and the connection handed to the parent. The
/// listener stays open while a data link is up, so a restarted host-switch (or one whose link died without a FIN)
/// simply handshakes again and the parent gets a new link. Connections are answered concurrently (bounded), so a
/// silent one never blocks the host's probes; a READY that arrives while a dial is in progress is stashed.
/// </summary>
public sealed class GuestHandshakeActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private readonly GuestHandshakeConfig _config;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _cts = new();
    private readonly RetryBackoff _dial;
    private Socket? _listener;
    private int _pending;
    private int _handshakes;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    private sealed record Accepted(Socket Socket);
    private sealed record AcceptFailed(Exception Error);
    private sealed record Answered(AnswerOutcome Outcome, string Detail);
    private sealed record Dial
    {
        public static readonly Dial Instance = new();
    }

    private sealed record Dialled(Socket Socket);
    private sealed record DialFailed(string Reason);

    public GuestHandshakeActor(GuestHandshakeConfig config, LinkListenerActor.PreBound? bound = null)
    {
        _config = config;
        _listener = bound?.Take();
        _dial = new RetryBackoff(config.Settings.DataDialMinBackoff, config.Settings.DataDialMaxBackoff, config.Settings.DataDialAttempts);
        Become(Listening);
    }

    protected override void PreStart()
    {
        _listener ??= _config.Handshake.Listen();
        _log.Info("Waiting for host-switch's handshake on {Endpoint} (sending the {Kind} phrase)", _config.Handshake, _config.Phrase);
        AcceptNext();
    }

    private void AcceptNext() =>
        _listener!.AcceptAsync(_cts.Token).AsTask().PipeTo(Self, success: s => new Accepted(s), failure: e => new AcceptFailed(e));

    /// <summary>No dial in progress: a READY starts one.</summary>
    private void Listening()
    {
        Receive<Answered>(a => a.Outcome == AnswerOutcome.Ready, _ =>
        {
            _pending--;
            _log.Info("READY received; dialling the host's data endpoint {Endpoint}", _config.HostData);
            _dial.Reset();
            Self.Tell(Dial.Instance);
            Become(Dialling);
        });
        Common();
    }

    /// <summary>Dialling the data endpoint: another READY waits (stash) until this dial has succeeded or given up.</summary>
    private void Dialling()
    {
        Receive<Answered>(a => a.Outcome == AnswerOutcome.Ready, _ => Stash.Stash());
        Receive<Dial>(_ =>
        {
            var ct = _cts.Token;
            var timeout = _config.Settings.Host.ConnectTimeout;
            Task.Run(async () =>
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(timeout);
                return await _config.HostData.ConnectAsync(deadline.Token).ConfigureAwait(false);
            }, CancellationToken.None).PipeTo(Self,
                success: s => new Dialled(s),
                failure: e => new DialFailed(e is OperationCanceledException ? $"no connection within {timeout.TotalSeconds:0.#} s" : e.GetBaseException().Message));
        });
        Receive<Dialled>(d =>
        {
            _handshakes++;
            _log.Info("Handshake {Count} done: data link to {Endpoint} is up", _handshakes, _config.HostData);
            Context.Parent.Tell(new DataLinkUp(d.Socket, $"host {_config.HostData}#{_handshakes}", _handshakes));
            Stash.UnstashAll();
            Become(Listening);
        });
        Receive<DialFailed>(f =>
        {
            if (_dial.Failed() is { } delay)
            {
                _log.Warning("Cannot dial the data endpoint {Endpoint}: {Reason}; again in {Delay}", _config.HostData, f.Reason, delay);
                Timers.StartSingleTimer("dial", Dial.Instance, delay);
                return;
            }
            var reason = $"cannot dial the data endpoint {_config.HostData} after {_dial.Attempts} tries: {f.Reason}";
            _log.Error("{Reason}; waiting for host-switch to handshake again", reason);
            Context.Parent.Tell(new DataDialGaveUp(reason));
            Stash.UnstashAll();
            Become(Listening);
        });
        Common();
    }

    private void Common()
    {
        Receive<Accepted>(a =>
        {
            AcceptNext();
            if (_pending >= _config.Settings.MaxPendingAnswers)
            {
                _log.Warning("Refusing a handshake connection: {Count} are already being answered", _pending);
                a.Socket.Dispose();
                return;
            }
            _pending++;
            var ct = _cts.Token;
            var timeout = _config.Settings.ReadyTimeout;
            var phrase = _config.Phrase;
            Task.Run(async () =>
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(timeout);
                try
                {
                    return await HandshakeConnections.AnswerAsync(a.Socket, phrase, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return (AnswerOutcome.Garbage, $"neither READY nor EOF within {timeout.TotalSeconds:0.#} s");
                }
            }, CancellationToken.None).PipeTo(Self, success: r => new Answered(r.Item1, r.Item2), failure: e => new Answered(AnswerOutcome.Garbage, e.GetBaseException().Message));
        });
        Receive<Answered>(a =>
        {
            _pending--;
            if (a.Outcome == AnswerOutcome.Probe) _log.Debug("Answered a handshake probe");
            else _log.Warning("A handshake connection was not host-switch's: {Detail}", a.Detail);
        });
        Receive<AcceptFailed>(f =>
        {
            if (_cts.IsCancellationRequested) return;
            throw new IOException($"accept on {_config.Handshake} failed: {f.Error.GetBaseException().Message}", f.Error);
        });
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _listener?.Dispose();
        if (_config.Handshake.Scheme == LinkScheme.Unix)
        {
            try { File.Delete(_config.Handshake.Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        _cts.Dispose();
    }

    public static Props Props(GuestHandshakeConfig config, LinkListenerActor.PreBound? bound = null) =>
        Akka.Actor.Props.Create(() => new GuestHandshakeActor(config, bound));
}
