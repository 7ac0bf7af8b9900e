using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Event;
using RdNet.Actors.Handshake;
using RdNet.Actors.Infrastructure;
using RdNet.Actors.Links;
using RdNet.Transport.Buffers;
using RdNet.Transport.Links;
using RdNet.Transport.Linux;
using static RdNet.Actors.Handshake.HandshakeProtocol;

namespace RdNet.Actors.NetworkSetup;

public sealed record NetworkSetupConfig(
    GuestHandshakeConfig Handshake,
    LinkListenerActor.PreBound? HandshakeListener,
    string Namespace,
    VethSettings Veth,
    string VmSwitchPath,
    IReadOnlyList<string> VmSwitchArgs,
    string? UnshareArg,
    string PidFile,
    NetworkSetupSettings Settings,
    LinkOptions Link,
    string NsenterPath = "nsenter",
    string UnsharePath = "unshare");

/// <summary>
/// Root of network-setup (spec §1.3, §3.4–3.6), in the VM's default namespace. After the first handshake it creates the
/// named namespace and the veth pair, starts init there through <c>unshare --pid --mount-proc --fork --propagation
/// slave</c> (its pid in the pid file), and starts vm-switch there with fd 3.
///
/// fd 3 is not the data connection itself but one end of a socketpair; this actor relays frames between the other
/// end and the current data link. The original handed the vsock connection over, so a dropped link killed vm-switch
/// for good (spec §3.3). Here a new handshake only swaps the relay's host side: vm-switch, its tap, its DHCP lease and
/// the guest's sockets never notice. The price is one extra copy per frame through a unix socketpair. If vm-switch
/// itself dies it is started again with backoff on a fresh socketpair.
/// </summary>
public sealed class NetworkSetupActor : ReceiveActor, IWithTimers
{
    private readonly NetworkSetupConfig _config;
    private readonly FramePool _pool;
    private readonly RoleExit _exit;
    private readonly NetworkSetupResources _resources;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _cts = new();
    private readonly RelaySink _toHost = new();
    private readonly RelaySink _toVm = new();
    private StreamLink? _hostLink;
    private StreamLink? _vmLink;
    private int _hostGen;
    private int _vmGen;
    private TimeSpan _vmBackoff;
    private long _vmStartedAt;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record SetupDone;
    private sealed record SetupFailed(string Reason);
    private sealed record HostLinkEnded(int Generation, string Reason);
    private sealed record VmLinkEnded(int Generation);
    private sealed record VmSwitchExited(int Generation, int Code);
    private sealed record InitExited(int Pid, int Code);
    private sealed record StartVmSwitch
    {
        public static readonly StartVmSwitch Instance = new();
    }

    /// <summary>For tests and --debug: the relay's counters.</summary>
    public sealed record GetRelayStats
    {
        public static readonly GetRelayStats Instance = new();
    }

    public sealed record RelayStats(bool HostLinkUp, bool VmSwitchLinkUp, long DroppedTowardsHost, long DroppedTowardsVm);

    public NetworkSetupActor(NetworkSetupConfig config, FramePool pool, RoleExit exit, NetworkSetupResources resources)
    {
        _config = config;
        _pool = pool;
        _exit = exit;
        _resources = resources;
        _vmBackoff = config.Settings.VmSwitchMinBackoff;
        Become(WaitingForHandshake);
    }

    protected override void PreStart() =>
        Context.ActorOf(GuestHandshakeActor.Props(_config.Handshake, _config.HandshakeListener), "handshake");

    // The handshake listener is restarted a few times on accept errors; after that it is fatal.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);

    private void WaitingForHandshake()
    {
        Receive<DataLinkUp>(up =>
        {
            AttachHostLink(up);
            var v = _config.Veth;
            _log.Info("Creating namespace {Namespace} and veth pair {HostEnd} <-> {InnerEnd}",
                _config.Namespace, $"{v.HostName} {v.HostAddress}/{v.PrefixLength}", $"{v.NamespaceName} {v.NamespaceAddress}/{v.PrefixLength}");
            var self = Self;
            Task.Run(() => SetUpNamespace(self)).PipeTo(self, success: () => new SetupDone(), failure: e => new SetupFailed(e.GetBaseException().Message));
            Become(SettingUp);
        });
        Common();
    }

    private void SettingUp()
    {
        Receive<SetupDone>(_ =>
        {
            StartVmSwitchProcess();
            Become(Running);
        });
        Receive<SetupFailed>(f => _exit.Fail(Context.System, 1, $"cannot set up the namespace {_config.Namespace}: {f.Reason}"));
        Receive<DataLinkUp>(AttachHostLink);
        Common();
    }

    private void Running()
    {
        Receive<DataLinkUp>(AttachHostLink);
        Receive<StartVmSwitch>(_ => StartVmSwitchProcess());
        Receive<VmSwitchExited>(e => e.Generation == _vmGen, e =>
        {
            DetachVmLink();
            var ranFor = TimeSpan.FromMilliseconds(Environment.TickCount64 - _vmStartedAt);
            if (ranFor >= _config.Settings.VmSwitchStable) _vmBackoff = _config.Settings.VmSwitchMinBackoff;
            _log.Warning("vm-switch exited with code {Code} after {Seconds:0.#} s; starting it again in {Delay}", e.Code, ranFor.TotalSeconds, _vmBackoff);
            Timers.StartSingleTimer("vm-switch", StartVmSwitch.Instance, _vmBackoff);
            var next = TimeSpan.FromTicks(_vmBackoff.Ticks * 2);
            _vmBackoff = next > _config.Settings.VmSwitchMaxBackoff ? _config.Settings.VmSwitchMaxBackoff : next;
        });
        Common();
    }

    private void Common()
    {
        Receive<HostLinkEnded>(e =>
        {
            if (e.Generation != _hostGen) return;
            _toVm.Target = null;
            _toHost.Target = null;
            _hostLink = null;
            _log.Warning("The data link to host-switch ended ({Reason}); vm-switch keeps running, waiting for host-switch to handshake again", e.Reason);
        });
        Receive<VmLinkEnded>(_ => { });
        Receive<VmSwitchExited>(_ => { });
        Receive<InitExited>(e => _log.Warning("init (unshare, pid {Pid}) exited with code {Code}; it is not restarted (its pid namespace is gone)", e.Pid, e.Code));
        Receive<DataDialGaveUp>(_ => { });
        Receive<GetRelayStats>(_ => Sender.Tell(new RelayStats(
            _hostLink is not null, _vmLink is not null,
            _toHost.Drops.Snapshot().Values.Sum(), _toVm.Drops.Snapshot().Values.Sum())));
    }

    /// <summary>A new data link replaces the old one (if any) on the host side of the relay.</summary>
    private void AttachHostLink(DataLinkUp up)
    {
        var old = _hostLink;
        var gen = ++_hostGen;
        var link = new StreamLink(up.Socket, up.Description, _pool, _config.Link);
        _hostLink = link;
        _toHost.Target = link;
        _toVm.Target = _vmLink;
        old?.Dispose();
        if (old is not null) _log.Info("Replaced the data link with {Link}", up.Description);
        link.RunAsync(_toVm, _cts.Token).PipeTo(Self,
            success: () => new HostLinkEnded(gen, link.EndReason ?? "closed"),
            failure: e => new HostLinkEnded(gen, e.GetBaseException().Message));
    }

    /// <summary>Blocking ip(8) work and the init start, off the actor thread; records everything for cleanup.</summary>
    private void SetUpNamespace(IActorRef self)
    {
        var p = _resources.Plumbing;
        var ns = _config.Namespace;
        var v = _config.Veth;
        if (GuestPlumbing.NamespaceExists(ns))
        {
            // A namespace left by a previous run (like the stale veth, spec §2.3 step 0): start clean, and take what
            // still runs inside it (its udhcpc, a lost init) with it.
            var stray = p.KillProcessesIn(ns);
            p.DeleteNamespace(ns);
            _log.Warning("Removed a stale namespace {Namespace} left by a previous run ({Stray} processes still inside it were killed)", ns, stray);
        }
        p.AddNamespace(ns);
        _resources.NamespaceCreated(ns);
        p.AddVethPair(v.HostName, v.NamespaceName, ns);
        _resources.VethCreated(v.HostName);
        p.AddressAndUp(null, v.HostName, v.HostAddress, v.PrefixLength);
        p.AddressAndUp(ns, v.NamespaceName, v.NamespaceAddress, v.PrefixLength);
        p.LinkUp(ns, "lo");
        if (!string.IsNullOrEmpty(_config.UnshareArg)) StartInit(self);
    }

    private string NamespaceOption => "--net=" + GuestPlumbing.NamespacePath(_config.Namespace);

    private void StartInit(IActorRef self)
    {
        var psi = new ProcessStartInfo(_config.NsenterPath) { UseShellExecute = false };
        foreach (var a in new[] { NamespaceOption, _config.UnsharePath, "--pid", "--mount-proc", "--fork", "--propagation", "slave", _config.UnshareArg! })
            psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.Exited += (_, _) => self.Tell(new InitExited(SafeId(p), SafeExitCode(p)));
        p.Start();
        _resources.InitStarted(p);
        // The pid of nsenter is unshare's (nsenter execs): decimal, no newline, mode 0600, as the original writes it.
        var dir = Path.GetDirectoryName(_config.PidFile);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllText(_config.PidFile, p.Id.ToString(CultureInfo.InvariantCulture));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_config.PidFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _resources.PidFileWritten(_config.PidFile);
        _log.Info("Started init in {Namespace}: unshare --pid --mount-proc --fork --propagation slave {Arg} (pid {Pid}, written to {PidFile})",
            _config.Namespace, _config.UnshareArg, p.Id, _config.PidFile);
    }

    private void StartVmSwitchProcess()
    {
        var gen = ++_vmGen;
        System.Net.Sockets.Socket ours;
        SpawnedProcess p;
        try
        {
            (ours, var childFd) = ChildPlumbing.CreatePair();
            try
            {
                // Spawned from a thread inside the namespace: the child starts there (no nsenter needed).
                p = NetNamespace.RunInPath(GuestPlumbing.NamespacePath(_config.Namespace),
                    () => ChildPlumbing.SpawnWithFd3(_config.VmSwitchPath, _config.VmSwitchArgs, childFd));
            }
            catch
            {
                ours.Dispose();
                throw;
            }
            finally
            {
                ChildPlumbing.CloseDescriptor(childFd);
            }
        }
        catch (Exception e) when (e is IOException or LinuxNetworkException)
        {
            _exit.Fail(Context.System, 1, $"cannot start vm-switch {_config.VmSwitchPath}: {e.Message}");
            return;
        }
        p.Exited.PipeTo(Self, success: code => new VmSwitchExited(gen, code), failure: _ => new VmSwitchExited(gen, -1));
        _resources.VmSwitchStarted(p);
        _vmStartedAt = Environment.TickCount64;
        var link = new StreamLink(ours, "vm-switch fd 3", _pool, _config.Link);
        _vmLink = link;
        _toVm.Target = link;
        link.RunAsync(_toHost, _cts.Token).PipeTo(Self, success: () => new VmLinkEnded(gen), failure: _ => new VmLinkEnded(gen));
        _log.Info("Started vm-switch in {Namespace} (pid {Pid}): {Path} {Args}, fd 3 relayed to the data link",
            _config.Namespace, p.Pid, _config.VmSwitchPath, string.Join(' ', _config.VmSwitchArgs));
    }

    private void DetachVmLink()
    {
        _toVm.Target = null;
        _vmLink?.Dispose();
        _vmLink = null;
    }

    private static int SafeExitCode(Process p)
    {
        try { return p.ExitCode; } catch (InvalidOperationException) { return -1; }
    }

    private static int SafeId(Process p)
    {
        try { return p.Id; } catch (InvalidOperationException) { return -1; }
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _hostLink?.Dispose();
        DetachVmLink();
        _resources.Cleanup();
        foreach (var line in _resources.Log) _log.Info("Cleanup: {Step}", line);
        _cts.Dispose();
    }

    public static Props Props(NetworkSetupConfig config, FramePool pool, RoleExit exit, NetworkSetupResources resources) =>
        Akka.Actor.Props.Create(() => new NetworkSetupActor(config, pool, exit, resources));
}
