using Akka.Configuration;
using RdNet.Actors.Tcp;
using RdNet.Transport.Links;

namespace RdNet.Actors.Infrastructure;

/// <summary>Every limit and timeout of the stack, read from the <c>rdnet</c> section of hocon/*.hocon.</summary>
public sealed record RdNetSettings(
    int CamCapacity,
    TimeSpan CamAgeing,
    TimeSpan CamSweepInterval,
    int MaxPorts,
    int FramePoolSize,
    LinkOptions Link,
    TimeSpan DhcpLeaseTime,
    TimeSpan DhcpOfferHold,
    int DhcpMaxLeases,
    TimeSpan DhcpExpiryInterval,
    TimeSpan ReconnectMinBackoff,
    TimeSpan ReconnectMaxBackoff,
    TimeSpan DhcpClientRestartDelay,
    string DhcpClientPath,
    TimeSpan ListenerMinBackoff,
    TimeSpan ListenerMaxBackoff,
    TimeSpan StatsInterval)
{
    /// <summary>The <c>rdnet.tcp</c> section (TCP NAT bounds).</summary>
    public TcpNatSettings Tcp { get; init; } = TcpNatSettings.Default;

    public static RdNetSettings FromConfig(Config config)
    {
        var r = config.GetConfig("rdnet") ?? throw new ConfigurationException("the 'rdnet' section is missing from hocon/");
        return new RdNetSettings(
            CamCapacity: r.GetInt("switch.cam-capacity"),
            CamAgeing: r.GetTimeSpan("switch.cam-ageing"),
            CamSweepInterval: r.GetTimeSpan("switch.cam-sweep-interval"),
            MaxPorts: r.GetInt("switch.max-ports"),
            FramePoolSize: r.GetInt("switch.frame-pool-size"),
            Link: new LinkOptions(
                MaxFrameLength: r.GetInt("link.max-frame-size"),
                SendQueueFrames: r.GetInt("link.send-queue-frames"),
                WriteBatchBytes: r.GetInt("link.write-batch-bytes"),
                ReadBufferBytes: r.GetInt("link.read-buffer-bytes")),
            DhcpLeaseTime: r.GetTimeSpan("dhcp.lease-time"),
            DhcpOfferHold: r.GetTimeSpan("dhcp.offer-hold"),
            DhcpMaxLeases: r.GetInt("dhcp.max-leases"),
            DhcpExpiryInterval: r.GetTimeSpan("dhcp.expiry-interval"),
            ReconnectMinBackoff: r.GetTimeSpan("vm-switch.reconnect-min-backoff"),
            ReconnectMaxBackoff: r.GetTimeSpan("vm-switch.reconnect-max-backoff"),
            DhcpClientRestartDelay: r.GetTimeSpan("vm-switch.dhcp-client-restart-delay"),
            DhcpClientPath: r.GetString("vm-switch.dhcp-client"),
            ListenerMinBackoff: r.GetTimeSpan("host-switch.listener-min-backoff"),
            ListenerMaxBackoff: r.GetTimeSpan("host-switch.listener-max-backoff"),
            StatsInterval: r.GetTimeSpan("host-switch.stats-interval"))
        {
            Tcp = TcpNatSettings.FromConfig(r),
        };
    }
}
