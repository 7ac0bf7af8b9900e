using Akka.Configuration;
using RdNet.Actors.Tcp;
using RdNet.Transport.Buffers;
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
    /// <summary>switch.frame-pool-bytes: the bytes all pooled frame buffers of a process may hold together.</summary>
    public long FramePoolBytes { get; init; } = 128L * 1024 * 1024;

    /// <summary>vm-switch.max-frame-size: the frame limit of the guest-side processes (vm-switch, network-setup).</summary>
    public int GuestMaxFrameLength { get; init; } = ushort.MaxValue;

    /// <summary>
    /// vm-switch.tap-coalesce: open the tap with a virtio-net header and join the TCP segments queued back to back for
    /// the guest into one GSO write (RdNet.Transport/Offload).
    /// </summary>
    public bool TapCoalesce { get; init; } = true;

    /// <summary>The process's frame pool: buffers up to the link's frame limit, in size classes, within both bounds.</summary>
    public FramePool CreatePool() => new(FramePoolSize, Link.MaxFrameLength, Math.Max(FramePoolBytes, Link.MaxFrameLength));

    /// <summary>
    /// The settings of a guest-side process (vm-switch, network-setup): it has no --mtu (the guest's MTU arrives by
    /// DHCP option 26 from host-switch), so its links accept any frame up to vm-switch.max-frame-size.
    /// </summary>
    public RdNetSettings ForGuestSide() => this with { Link = Link with { MaxFrameLength = GuestMaxFrameLength } };

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
                ReadBufferBytes: r.GetInt("link.read-buffer-bytes"),
                InlineWriteBytes: r.GetInt("link.inline-write-bytes")),
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
            FramePoolBytes = r.GetLong("switch.frame-pool-bytes"),
            GuestMaxFrameLength = r.GetInt("vm-switch.max-frame-size"),
            TapCoalesce = r.GetBoolean("vm-switch.tap-coalesce"),
        };
    }
}
