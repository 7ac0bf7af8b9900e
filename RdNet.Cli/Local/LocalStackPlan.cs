using System.CommandLine;
using System.Globalization;
using RdNet.Cli.Commands;
using RdNet.Transport.Gateway;
using RdNet.Transport.Linux;

namespace RdNet.Cli.Local;

/// <summary>A <c>--publish HOST:GUEST</c> of <c>rdnet run</c>: host port on 127.0.0.1 → the guest's port.</summary>
public sealed record PublishRule(int HostPort, int GuestPort)
{
    public const string ExpectedFormat = "HOST:GUEST, two ports 1-65535 like 8080:80";

    public static bool TryParse(string? text, out PublishRule? rule, out string? error)
    {
        rule = null;
        error = null;
        var colon = text?.IndexOf(':') ?? -1;
        if (colon > 0 && colon == text!.LastIndexOf(':')
            && TryPort(text[..colon], out var host) && TryPort(text[(colon + 1)..], out var guest))
        {
            rule = new PublishRule(host, guest);
            return true;
        }
        error = $"invalid --publish '{text}': expected {ExpectedFormat}";
        return false;
    }

    private static bool TryPort(string s, out int port) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;

    public override string ToString() => $"{HostPort.ToString(CultureInfo.InvariantCulture)}:{GuestPort.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// What <c>rdnet up</c> / <c>rdnet run</c> will start, decided from the command line alone (no I/O, unit tested): the
/// runtime folder, the host-switch and network-setup argument lists, the DHCP script and the namespace's resolv.conf.
/// Options after the <c>up</c>/<c>run</c> ones belong to the roles: each goes to the role(s) that define it
/// (<c>--debug</c> and <c>--subnet</c> to both, since they must agree; <c>--logfile</c> to host-switch only).
/// </summary>
public sealed class LocalStackPlan
{
    public const string DefaultName = "rdnet";
    public const string RuntimeRoot = "/run/rdnet";

    // Wiring rdnet up owns: the user cannot move these without breaking the stack.
    private static readonly string[] HostSwitchReserved = ["--vm-handshake", "--vm-data-listen"];
    private static readonly string[] NetworkSetupReserved =
        ["--vm-switch-path", "--handshake-listen", "--host-data", "--netns-name", "--pid-file", "--unshare-arg", "--dhcp-script", "--vm-switch-logfile", "--namespace-service"];

    private LocalStackPlan(string name, string runtimeDir, IReadOnlyList<string> hostSwitchExtra, IReadOnlyList<string> networkSetupExtra,
        VirtualNetwork network, IReadOnlyList<PublishRule> publish, IReadOnlyList<string> command, bool debug)
    {
        Name = name;
        RuntimeDir = runtimeDir;
        HostSwitchExtra = hostSwitchExtra;
        NetworkSetupExtra = networkSetupExtra;
        Network = network;
        Publish = publish;
        Command = command;
        Debug = debug;
    }

    /// <summary>The namespace's name (<c>ip netns exec NAME …</c>).</summary>
    public string Name { get; }

    /// <summary>Sockets, the vm-switch link, the DHCP script: /run/rdnet for the default name, /run/rdnet/NAME otherwise.</summary>
    public string RuntimeDir { get; }

    public IReadOnlyList<string> HostSwitchExtra { get; }
    public IReadOnlyList<string> NetworkSetupExtra { get; }
    public VirtualNetwork Network { get; }
    public IReadOnlyList<PublishRule> Publish { get; }

    /// <summary>The command of <c>rdnet run</c> (empty for <c>up</c>).</summary>
    public IReadOnlyList<string> Command { get; }

    public bool Debug { get; }

    /// <summary>vm-switch's tap inside the namespace (network-setup's <c>--tap-interface</c>, default eth0).</summary>
    public string TapInterface
    {
        get
        {
            var i = NetworkSetupExtra.ToList().LastIndexOf("--tap-interface");
            return i >= 0 && i + 1 < NetworkSetupExtra.Count ? NetworkSetupExtra[i + 1] : "eth0";
        }
    }

    public string HandshakeSocket => Path.Combine(RuntimeDir, "handshake.sock");
    public string DataSocket => Path.Combine(RuntimeDir, "data.sock");
    public string VmSwitchLink => Path.Combine(RuntimeDir, "vm-switch");
    public string DhcpScriptPath => Path.Combine(RuntimeDir, "dhcp.sh");
    public string PidFile => Path.Combine(RuntimeDir, "init.pid");

    /// <summary>Where host-switch's API will be served: the clients' default for the default name.</summary>
    public string ApiSocket => Path.Combine(RuntimeDir, "api.sock");

    /// <summary><c>ip netns exec</c> bind-mounts the files of /etc/netns/NAME over /etc.</summary>
    public string EtcNetnsDir => Path.Combine("/etc/netns", Name);

    /// <summary>
    /// Parses what follows <c>rdnet up</c> or <c>rdnet run</c>. <paramref name="allowCommand"/>: <c>run</c>, where
    /// <c>--publish</c> and <c>-- CMD…</c> are expected.
    /// </summary>
    public static LocalStackPlan Parse(IReadOnlyList<string> args, bool allowCommand)
    {
        var name = DefaultName;
        var publish = new List<PublishRule>();
        var command = new List<string>();
        var hs = new List<string>();
        var ns = new List<string>();
        var hostSwitch = OptionTable(HostSwitchCommand.Create());
        var networkSetup = OptionTable(NetworkSetupCommand.Create());
        var debug = false;
        var subnet = VirtualNetwork.DefaultSubnet;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string Value()
            {
                if (i + 1 >= args.Count) throw new LocalStackException($"{a} needs a value");
                return args[++i];
            }
            if (a == "--")
            {
                if (!allowCommand) throw new LocalStackException("rdnet up runs no command; use rdnet run [--publish HOST:GUEST]… -- CMD…");
                command.AddRange(args.Skip(i + 1));
                break;
            }
            if (a == "--name")
            {
                name = Value();
                if (ValidateName(name) is { } e) throw new LocalStackException(e);
                continue;
            }
            if (a == "--publish" && allowCommand)
            {
                if (!PublishRule.TryParse(Value(), out var rule, out var error)) throw new LocalStackException(error!);
                publish.Add(rule!);
                continue;
            }
            if (HostSwitchReserved.Contains(a) || NetworkSetupReserved.Contains(a))
                throw new LocalStackException($"{a} is set by rdnet {(allowCommand ? "run" : "up")} itself (the roles are wired over unix sockets in the runtime folder)");
            var inHs = hostSwitch.TryGetValue(a, out var hsTakesValue);
            var inNs = networkSetup.TryGetValue(a, out var nsTakesValue);
            if (!inHs && !inNs)
            {
                throw new LocalStackException(
                    $"unknown option '{a}': rdnet {(allowCommand ? "run" : "up")} takes --name{(allowCommand ? ", --publish HOST:GUEST and -- CMD…" : "")}, and passes on the options of host-switch and network-setup (see rdnet host-switch --help)");
            }
            var takesValue = inHs ? hsTakesValue : nsTakesValue;
            string? value = null;
            if (takesValue) value = Value();
            else if (i + 1 < args.Count && args[i + 1] is "true" or "false") value = args[++i]; // -debug=true
            if (a == "--debug") debug = value is null or "true";
            if (a == "--subnet") subnet = value!;
            // --logfile is defined by both: the one given goes to host-switch (network-setup logs to the console).
            var toHs = inHs;
            var toNs = inNs && !(a == "--logfile" && inHs);
            foreach (var target in new[] { toHs ? hs : null, toNs ? ns : null })
            {
                if (target is null) continue;
                target.Add(a);
                if (value is not null) target.Add(value);
            }
        }
        if (allowCommand && command.Count == 0)
            throw new LocalStackException("rdnet run needs a command after --, e.g. rdnet run -- curl -s http://host.rancher-desktop.internal:8080/");
        if (!VirtualNetwork.TryParse(subnet, out var network, out var subnetError)) throw new LocalStackException(subnetError!);
        var dir = name == DefaultName ? RuntimeRoot : Path.Combine(RuntimeRoot, name);
        var plan = new LocalStackPlan(name, dir, hs, ns, network!, publish, command, debug);
        plan.Check(HostSwitchCommand.Create(), plan.HostSwitchArguments(), "host-switch");
        plan.Check(NetworkSetupCommand.Create(), plan.NetworkSetupArguments("/bin/true"), "network-setup");
        return plan;
    }

    public static string? ValidateName(string name) =>
        name.Length is 0 or > 32 || name is "." or ".." || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? $"invalid --name '{name}': expected 1-32 letters, digits, '-', '_' or '.', like rdnet"
            : null;

    /// <summary>
    /// host-switch's whole argument list (after the <c>host-switch</c> command word): the handshake with
    /// network-setup over the runtime folder's sockets, then the options passed through.
    /// </summary>
    public IReadOnlyList<string> HostSwitchArguments()
    {
        var args = new List<string>
        {
            "--vm-handshake", "unix://" + HandshakeSocket,
            "--vm-data-listen", "unix://" + DataSocket,
            // The host-side API (forwarder + GET /stats) where rdnet forward / rdnet stats look for it.
            "--api", "unix://" + ApiSocket,
        };
        // --publish HOST:GUEST is host-switch's static forward 127.0.0.1:HOST=<guest .2>:GUEST: the guest's tap
        // gets .2, the static lease bound to the tap MAC (spec §4.1).
        foreach (var p in Publish)
            args.AddRange(["--port-forward", $"127.0.0.1:{p.HostPort.ToString(CultureInfo.InvariantCulture)}={Network.Guest}:{p.GuestPort.ToString(CultureInfo.InvariantCulture)}"]);
        args.AddRange(HostSwitchExtra);
        return args;
    }

    /// <summary>network-setup's whole argument list (after the <c>network-setup</c> command word).</summary>
    public IReadOnlyList<string> NetworkSetupArguments(string vmSwitchPath)
    {
        var args = new List<string>
        {
            "--handshake-listen", "unix://" + HandshakeSocket,
            "--host-data", "unix://" + DataSocket,
            "--netns-name", Name,
            "--vm-switch-path", vmSwitchPath,
            "--dhcp-script", DhcpScriptPath,
            "--pid-file", PidFile,
            "--logfile", "/dev/stdout",
        };
        args.AddRange(NetworkSetupExtra);
        return args;
    }

    /// <summary>udhcpc's script inside the namespace (<see cref="UdhcpcScript"/>: ip(8) only, never the machine's /etc/resolv.conf).</summary>
    public static string DhcpScript { get; } = UdhcpcScript.Build();

    /// <summary>The namespace's resolver: the gateway, which answers the local zones and forwards the rest.</summary>
    public string ResolvConf => $"# written by rdnet {Name}; removed when it stops\nnameserver {Network.Gateway}\n";

    /// <summary>Which option words a role defines, and whether each takes a value.</summary>
    private static Dictionary<string, bool> OptionTable(Command command)
    {
        var table = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var o in command.Options)
        {
            var takesValue = o.Arity.MaximumNumberOfValues > 0 && o.ValueType != typeof(bool);
            table[o.Name] = takesValue;
            foreach (var alias in o.Aliases) table[alias] = takesValue;
        }
        return table;
    }

    private void Check(Command command, IReadOnlyList<string> args, string role)
    {
        var result = command.Parse([.. args]);
        if (result.Errors.Count > 0)
            throw new LocalStackException($"{role}: {string.Join("; ", result.Errors.Select(e => e.Message))}");
    }
}

/// <summary>A bad <c>rdnet up</c>/<c>run</c> command line or a setup step that failed; the message says which.</summary>
public sealed class LocalStackException(string message) : Exception(message);
