using Akka.Configuration;

namespace RdNet.Actors.WslProxy;

/// <summary>The <c>rdnet.wsl-proxy</c> section of hocon/rdnet.hocon: every bound and timeout of wsl-proxy.</summary>
public sealed record WslProxySettings(
    TimeSpan ConnectTimeout,
    TimeSpan UdpIdleTimeout,
    int MaxUdpFlows,
    int MaxConnections,
    int RelayBufferBytes,
    int MaxListeners,
    int ListenBacklog,
    int ControlMaxBytes,
    TimeSpan ControlReadTimeout,
    int MaxControlConnections,
    TimeSpan ListenerMinBackoff,
    TimeSpan ListenerMaxBackoff,
    TimeSpan ShutdownDrainTimeout)
{
    public static WslProxySettings FromConfig(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var w = config.GetConfig("rdnet.wsl-proxy") ?? throw new ConfigurationException("the 'rdnet.wsl-proxy' section is missing from hocon/");
        var s = new WslProxySettings(
            ConnectTimeout: w.GetTimeSpan("connect-timeout"),
            UdpIdleTimeout: w.GetTimeSpan("udp-idle-timeout"),
            MaxUdpFlows: w.GetInt("max-udp-flows"),
            MaxConnections: w.GetInt("max-connections"),
            RelayBufferBytes: w.GetInt("relay-buffer-bytes"),
            MaxListeners: w.GetInt("max-listeners"),
            ListenBacklog: w.GetInt("listen-backlog"),
            ControlMaxBytes: w.GetInt("control-max-bytes"),
            ControlReadTimeout: w.GetTimeSpan("control-read-timeout"),
            MaxControlConnections: w.GetInt("max-control-connections"),
            ListenerMinBackoff: w.GetTimeSpan("listener-min-backoff"),
            ListenerMaxBackoff: w.GetTimeSpan("listener-max-backoff"),
            ShutdownDrainTimeout: w.GetTimeSpan("shutdown-drain-timeout"));
        if (s.ConnectTimeout <= TimeSpan.Zero || s.UdpIdleTimeout <= TimeSpan.Zero || s.ControlReadTimeout <= TimeSpan.Zero
            || s.MaxUdpFlows < 1 || s.MaxConnections < 1 || s.RelayBufferBytes < 512 || s.MaxListeners < 1 || s.ListenBacklog < 1
            || s.ControlMaxBytes < 64 || s.MaxControlConnections < 1 || s.ListenerMinBackoff <= TimeSpan.Zero
            || s.ListenerMaxBackoff < s.ListenerMinBackoff || s.ShutdownDrainTimeout < TimeSpan.Zero)
            throw new ConfigurationException($"rdnet.wsl-proxy has a value out of range: {s}");
        return s;
    }
}
