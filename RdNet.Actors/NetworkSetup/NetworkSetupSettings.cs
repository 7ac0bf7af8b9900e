using Akka.Configuration;
using RdNet.Transport.Wire;

namespace RdNet.Actors.NetworkSetup;

/// <summary>The <c>rdnet.network-setup</c> section of hocon/.</summary>
public sealed record NetworkSetupSettings(
    TimeSpan VmSwitchMinBackoff,
    TimeSpan VmSwitchMaxBackoff,
    TimeSpan VmSwitchStable,
    TimeSpan StopGrace,
    TimeSpan CommandTimeout)
{
    public static NetworkSetupSettings FromConfig(Config config)
    {
        var n = config.GetConfig("rdnet.network-setup") ?? throw new ConfigurationException("the 'rdnet.network-setup' section is missing from hocon/");
        return new NetworkSetupSettings(
            n.GetTimeSpan("vm-switch-min-backoff"),
            n.GetTimeSpan("vm-switch-max-backoff"),
            n.GetTimeSpan("vm-switch-stable"),
            n.GetTimeSpan("stop-grace"),
            n.GetTimeSpan("command-timeout"));
    }
}

/// <summary>The veth pair between the VM's default namespace (host end) and the new namespace (spec §3.5, §3.6).</summary>
public sealed record VethSettings(string HostName, Ipv4Address HostAddress, string NamespaceName, Ipv4Address NamespaceAddress, int PrefixLength)
{
    /// <summary>Our user's design (and the original standalone project): veth-rd0 192.168.1.1 here, veth-rd1 192.168.1.2 inside.</summary>
    public static VethSettings Default { get; } = new("veth-rd0", Ipv4Address.Parse("192.168.1.1"), "veth-rd1", Ipv4Address.Parse("192.168.1.2"), 24);
}
