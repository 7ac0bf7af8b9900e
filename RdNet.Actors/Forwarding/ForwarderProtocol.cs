using Akka.Actor;
using Akka.Configuration;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Forwarding;

/// <summary>The <c>rdnet.forwarding</c> section: every bound of port forwarding and its API.</summary>
public sealed record ForwardingSettings(
    int MaxForwards,
    int ListenBacklog,
    int MaxConnectionsPerForward,
    ushort GatewayPortFirst,
    ushort GatewayPortLast,
    TimeSpan DialAnswerTimeout,
    TimeSpan UdpIdleTimeout,
    int MaxUdpFlowsPerForward,
    int UdpMaxDatagram,
    int ApiMaxPending,
    TimeSpan ApiReadTimeout,
    int ApiMaxRequestBytes,
    TimeSpan ApiRequestTimeout,
    TimeSpan StatsTimeout,
    int ApiMaxConnections = 64)
{
    public static ForwardingSettings Default { get; } = new(1024, 512, 4096, 32768, 60999, TimeSpan.FromSeconds(15),
        TimeSpan.FromSeconds(90), 1024, 65507, 64, TimeSpan.FromSeconds(10), 65536, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2));

    public static ForwardingSettings FromConfig(Config config)
    {
        var c = config.GetConfig("rdnet.forwarding") ?? throw new ConfigurationException("the 'rdnet.forwarding' section is missing from hocon/");
        var first = c.GetInt("gateway-port-first");
        var last = c.GetInt("gateway-port-last");
        if (first is < 1 or > 65535 || last is < 1 or > 65535 || last < first)
            throw new ConfigurationException("rdnet.forwarding.gateway-port-first/last must be ports 1-65535 with first <= last");
        return new ForwardingSettings(
            c.GetInt("max-forwards"), c.GetInt("listen-backlog"), c.GetInt("max-connections-per-forward"),
            (ushort)first, (ushort)last, c.GetTimeSpan("dial-answer-timeout"), c.GetTimeSpan("udp-idle-timeout"),
            c.GetInt("max-udp-flows-per-forward"), c.GetInt("udp-max-datagram"), c.GetInt("api-max-pending"),
            c.GetTimeSpan("api-read-timeout"), c.GetInt("api-max-request-bytes"), c.GetTimeSpan("api-request-timeout"),
            c.GetTimeSpan("stats-timeout"), c.GetInt("api-max-connections"));
    }
}

/// <summary>Messages of the forwarder (the table of forwards), its forwards and their connections.</summary>
public static class ForwarderProtocol
{
    /// <summary>Marker for the commands the API sends; host-switch passes them to its forwarder.</summary>
    public interface IForwarderCommand;

    /// <summary>
    /// POST /services/forwarder/expose. <paramref name="Caller"/> is the in-guest API client's address (an empty remote
    /// host means it); null on the host-side API. Answered with <see cref="Done"/> or <see cref="Refused"/>.
    /// </summary>
    /// <param name="FromGuest">Asked through the in-guest API (.1:80): such a caller may not name host file paths (unix).</param>
    public sealed record Expose(string? Local, string? Remote, string? Protocol, Ipv4Address? Caller, bool FromGuest = false) : IForwarderCommand;

    /// <summary>POST /services/forwarder/unexpose. Answered with <see cref="Done"/> or <see cref="Refused"/> ("proxy not found").</summary>
    public sealed record Unexpose(string? Local, string? Protocol) : IForwarderCommand;

    /// <summary>GET /services/forwarder/all. Answered with <see cref="ForwardList"/>, sorted by local, then protocol.</summary>
    public sealed record List : IForwarderCommand
    {
        public static readonly List Instance = new();
    }

    /// <summary>Counts for tests and the operator. Answered with <see cref="ForwarderStats"/>.</summary>
    public sealed record GetStats : IForwarderCommand
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record Done
    {
        public static readonly Done Instance = new();
    }

    public sealed record Refused(ForwardError Error);

    public sealed record ForwardList(IReadOnlyList<ForwardInfo> Forwards);

    /// <param name="Forwards">Forwards installed.</param>
    /// <param name="Connections">Forwarded connections and UDP client flows open now (one actor each).</param>
    /// <param name="Accepted">Connections accepted / UDP flows opened since start.</param>
    /// <param name="ListenerFailures">Forwards removed because their listener failed.</param>
    public sealed record ForwarderStats(int Forwards, int Connections, long Accepted, long ListenerFailures);

    /// <summary>Where the gateway is (its services carry the traffic); sent by host-switch once at start.</summary>
    public sealed record AttachGateway(IActorRef Gateway);

    // ---- between the forwarder, a forward and its connections ----

    /// <summary>A forward's count of live connections changed (for <see cref="ForwarderStats"/>).</summary>
    internal sealed record ConnectionCount(string Key, int Open, long Accepted);

    /// <summary>Fault injection for tests: the receiver throws.</summary>
    internal sealed record InjectFault
    {
        public static readonly InjectFault Instance = new();
    }

    /// <summary>A datagram from a UDP forward's client, for the client's flow (copied out of the listener's buffer).</summary>
    internal sealed record ClientDatagram(byte[] Payload);

    /// <summary>
    /// A UDP forward flow asks the gateway's UDP forward service to send <paramref name="Payload"/> to the guest from
    /// .1:port; the first one from a flow allocates its port, which stays the flow's until it stops. Replies come back
    /// as <see cref="GuestDatagram"/>.
    /// </summary>
    public sealed record SendToGuest(Ipv4Address Guest, ushort GuestPort, byte[] Payload);

    /// <summary>A datagram the guest sent back to a flow's gateway port.</summary>
    public sealed record GuestDatagram(byte[] Payload);
}
