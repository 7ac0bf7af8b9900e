using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Actors.Dhcp;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Switch;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Roles;

public sealed record VmSwitchConfig(LinkEndpoint HostLink, TapDevice Tap, string? DhcpScript, RdNetSettings Settings, bool RunDhcpClient, bool LogTraffic = false, PacketTrace? Trace = null);

/// <summary>
/// Root of vm-switch: a small router with two ports, the tap and the link to host-switch, plus the DHCP client.
/// A dialled host link (unix/tcp/vsock) that drops is dialled again with backoff, so guest traffic resumes
/// without restarting (the original never recovered); an inherited fd cannot be re-dialled, so losing it exits 1.
/// </summary>
public sealed class VmSwitchActor : ReceiveActor, IWithTimers
{
    private const string HostPortName = "host";
    private const string TapPortName = "tap";
    private readonly VmSwitchConfig _config;
    private readonly FramePool _pool;
    private readonly RoleExit _exit;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _cts = new();
    private IActorRef _router = ActorRefs.Nobody;
    private IActorRef? _dhcp;
    private TimeSpan _backoff;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Connect
    {
        public static readonly Connect Instance = new();
    }

    private sealed record LogTraffic
    {
        public static readonly LogTraffic Instance = new();
    }

    private sealed record Connected(Socket Socket);
    private sealed record ConnectFailed(Exception Error);

    public VmSwitchActor(VmSwitchConfig config, FramePool pool, RoleExit exit)
    {
        _config = config;
        _pool = pool;
        _exit = exit;
        _backoff = config.Settings.ReconnectMinBackoff;

        Receive<Connect>(_ => _config.HostLink.ConnectAsync(_cts.Token)
            .PipeTo(Self, success: s => new Connected(s), failure: e => new ConnectFailed(e)));
        Receive<Connected>(c =>
        {
            _backoff = _config.Settings.ReconnectMinBackoff;
            _log.Info("Connected to host-switch at {Endpoint}", _config.HostLink);
            _router.Tell(new AttachLink(new StreamLink(c.Socket, $"host {_config.HostLink}", _pool, _config.Settings.Link), HostPortName, Uplink: true));
            if (_config.RunDhcpClient && _dhcp is null)
                _dhcp = Context.ActorOf(DhcpClientActor.Props(_config.Settings.DhcpClientPath, _config.Tap.Name, _config.DhcpScript, _config.Settings.DhcpClientRestartDelay), "dhcp-client");
        });
        Receive<ConnectFailed>(f =>
        {
            if (!_config.HostLink.CanRedial)
            {
                _exit.Fail(Context.System, 1, $"cannot use the host link {_config.HostLink}: {f.Error.GetBaseException().Message}");
                return;
            }
            _log.Warning("Cannot reach host-switch at {Endpoint}: {Error}; retrying in {Delay}", _config.HostLink, f.Error.GetBaseException().Message, _backoff);
            Redial();
        });
        Receive<PortAttached>(_ => { });
        Receive<PortDetached>(d =>
        {
            if (d.Name == TapPortName)
            {
                _exit.Fail(Context.System, 1, $"the tap {_config.Tap.Name} closed");
            }
            else if (d.Name == HostPortName)
            {
                if (!_config.HostLink.CanRedial)
                {
                    _exit.Fail(Context.System, 1, $"the host link {_config.HostLink} closed; an inherited descriptor cannot be dialled again");
                    return;
                }
                _log.Warning("The link to host-switch dropped; dialling {Endpoint} again in {Delay}", _config.HostLink, _backoff);
                Redial();
            }
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_router)) _exit.Fail(Context.System, 1, "the switch router stopped");
        });
        Receive<GetStats>(m => _router.Forward(m));
        Receive<LogTraffic>(_ => _router.Tell(GetStats.Instance));
        Receive<RouterStats>(s => _log.Debug("Traffic: {Summary}", RouterStatsText.Describe(s)));
    }

    private void Redial()
    {
        Timers.StartSingleTimer("dial", Connect.Instance, _backoff);
        var next = TimeSpan.FromTicks(_backoff.Ticks * 2);
        _backoff = next > _config.Settings.ReconnectMaxBackoff ? _config.Settings.ReconnectMaxBackoff : next;
    }

    protected override void PreStart()
    {
        var s = _config.Settings;
        _router = Context.ActorOf(RouterActor.Props(new RouterOptions(s.CamCapacity, s.CamAgeing, s.CamSweepInterval, s.MaxPorts, Trace: _config.Trace)), "switch");
        Context.Watch(_router);
        _router.Tell(new AttachLink(new TapLink(_config.Tap, _pool, s.Link), TapPortName));
        Self.Tell(Connect.Instance);
        if (_config.LogTraffic && s.StatsInterval > TimeSpan.Zero)
            Timers.StartPeriodicTimer("traffic", LogTraffic.Instance, s.StatsInterval);
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Resume);

    public static Props Props(VmSwitchConfig config, FramePool pool, RoleExit exit) =>
        Akka.Actor.Props.Create(() => new VmSwitchActor(config, pool, exit));
}
