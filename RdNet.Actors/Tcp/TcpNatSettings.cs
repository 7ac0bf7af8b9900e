using Akka.Configuration;
using RdNet.Transport.Tcp;

namespace RdNet.Actors.Tcp;

/// <summary>The <c>rdnet.tcp</c> section: every bound of the TCP NAT and its connections.</summary>
public sealed record TcpNatSettings(
    TimeSpan ConnectTimeout,
    int MaxConnectsInFlight,
    int MaxFlows,
    int SendBufferBytes,
    int ReceiveBufferBytes,
    int MaxOutOfOrderRanges,
    TimeSpan TimeWait,
    TimeSpan IdleTimeout,
    TimeSpan FinWaitTimeout,
    TimeSpan IdleCheckInterval,
    TimeSpan InitialRto,
    TimeSpan MinRto,
    TimeSpan MaxRto,
    int MaxRetransmissions,
    int MaxSynRetransmissions)
{
    public static TcpNatSettings Default { get; } = new(
        TimeSpan.FromSeconds(10), 256, 16384, 256 * 1024, 256 * 1024, 32, TimeSpan.FromSeconds(2), TimeSpan.FromHours(2),
        TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(200),
        TimeSpan.FromSeconds(60), 12, 5);

    /// <summary>
    /// min-buffer-segments: each ring holds at least this many full-size segments, so at a large MTU (65520: MSS 65480)
    /// the window is not just a handful of segments.
    /// </summary>
    public int MinBufferSegments { get; init; } = 16;

    /// <summary>delayed-ack: see <see cref="TcpConfig.DelayedAckMs"/>; zero ACKs every segment at once.</summary>
    public TimeSpan DelayedAck { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// run-flows-in-line: a flow's guest segment and its host socket's completions are processed on the thread that
    /// delivered them when the flow is idle (<see cref="Infrastructure.InlineDispatcher"/>); off = Akka's default dispatcher.
    /// </summary>
    public bool RunFlowsInLine { get; init; } = true;

    public static TcpNatSettings FromConfig(Config rdnet)
    {
        var t = rdnet.GetConfig("tcp") ?? throw new ConfigurationException("the 'rdnet.tcp' section is missing from hocon/");
        return new TcpNatSettings(
            ConnectTimeout: t.GetTimeSpan("connect-timeout"),
            MaxConnectsInFlight: t.GetInt("max-connects-in-flight"),
            MaxFlows: t.GetInt("max-flows"),
            SendBufferBytes: t.GetInt("send-buffer-bytes"),
            ReceiveBufferBytes: t.GetInt("receive-buffer-bytes"),
            MaxOutOfOrderRanges: t.GetInt("max-out-of-order-ranges"),
            TimeWait: t.GetTimeSpan("time-wait"),
            IdleTimeout: t.GetTimeSpan("idle-timeout"),
            FinWaitTimeout: t.GetTimeSpan("fin-wait-timeout"),
            IdleCheckInterval: t.GetTimeSpan("idle-check-interval"),
            InitialRto: t.GetTimeSpan("rto-initial"),
            MinRto: t.GetTimeSpan("rto-min"),
            MaxRto: t.GetTimeSpan("rto-max"),
            MaxRetransmissions: t.GetInt("max-retransmissions"),
            MaxSynRetransmissions: t.GetInt("max-syn-retransmissions"))
        {
            MinBufferSegments = t.GetInt("min-buffer-segments"),
            DelayedAck = t.GetTimeSpan("delayed-ack"),
            RunFlowsInLine = t.GetBoolean("run-flows-in-line"),
        };
    }

    /// <summary>The engine's configuration for a network of <paramref name="mtu"/>: MSS = MTU − 40; rings of at least <see cref="MinBufferSegments"/> segments.</summary>
    public TcpConfig Engine(int mtu) => new()
    {
        Mss = mtu - 40,
        SendBufferSize = Math.Max(SendBufferBytes, MinBufferSegments * (mtu - 40)),
        ReceiveBufferSize = Math.Max(ReceiveBufferBytes, MinBufferSegments * (mtu - 40)),
        MaxOutOfOrderRanges = MaxOutOfOrderRanges,
        InitialRtoMs = (long)InitialRto.TotalMilliseconds,
        MinRtoMs = (long)MinRto.TotalMilliseconds,
        MaxRtoMs = (long)MaxRto.TotalMilliseconds,
        MaxRetransmissions = MaxRetransmissions,
        MaxSynRetransmissions = MaxSynRetransmissions,
        TimeWaitMs = (long)TimeWait.TotalMilliseconds,
        DelayedAckMs = (long)DelayedAck.TotalMilliseconds,
    };
}
