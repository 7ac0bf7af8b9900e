using Akka.Configuration;
using RdNet.Transport.Handshake;

namespace RdNet.Actors.Handshake;

/// <summary>The <c>rdnet.handshake</c> section of hocon/: every bound of both handshake sides.</summary>
public sealed record HandshakeSettings(
    HandshakeTimings Host,
    TimeSpan ReadyTimeout,
    int MaxPendingAnswers,
    int DataDialAttempts,
    TimeSpan DataDialMinBackoff,
    TimeSpan DataDialMaxBackoff)
{
    public static HandshakeSettings Default { get; } = new(HandshakeTimings.Default, TimeSpan.FromSeconds(10), 8, 5,
        TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2));

    public static HandshakeSettings FromConfig(Config config)
    {
        var h = config.GetConfig("rdnet.handshake") ?? throw new ConfigurationException("the 'rdnet.handshake' section is missing from hocon/");
        return new HandshakeSettings(
            new HandshakeTimings(
                ConnectTimeout: h.GetTimeSpan("connect-timeout"),
                SignatureTimeout: h.GetTimeSpan("signature-timeout"),
                ProbeInterval: h.GetTimeSpan("probe-interval"),
                DiscoveryTimeout: h.GetTimeSpan("discovery-timeout"),
                DataAcceptTimeout: h.GetTimeSpan("data-accept-timeout"),
                MaxAttempts: h.GetInt("max-attempts"),
                MinBackoff: h.GetTimeSpan("retry-min-backoff"),
                MaxBackoff: h.GetTimeSpan("retry-max-backoff")),
            ReadyTimeout: h.GetTimeSpan("ready-timeout"),
            MaxPendingAnswers: h.GetInt("max-pending-answers"),
            DataDialAttempts: h.GetInt("data-dial-attempts"),
            DataDialMinBackoff: h.GetTimeSpan("data-dial-min-backoff"),
            DataDialMaxBackoff: h.GetTimeSpan("data-dial-max-backoff"));
    }
}
