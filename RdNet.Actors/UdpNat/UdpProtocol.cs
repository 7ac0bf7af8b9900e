using Akka.Configuration;
using RdNet.Transport.Buffers;
using RdNet.Transport.Wire;

namespace RdNet.Actors.UdpNat;

/// <summary>Bounds of the UDP NAT, from <c>rdnet.udp</c> in hocon/.</summary>
/// <param name="IdleTimeout">A flow with no datagram in either direction for this long is closed (socket and actor).</param>
/// <param name="MaxFlows">Flows open at once; a new flow beyond it closes the least recently used one.</param>
/// <param name="StatsInterval">With --debug, how often a summary (flows, drops) is logged when it changed.</param>
public sealed record UdpNatSettings(TimeSpan IdleTimeout, int MaxFlows, TimeSpan StatsInterval)
{
    public static UdpNatSettings FromConfig(Config config)
    {
        var c = config.GetConfig("rdnet.udp") ?? throw new ConfigurationException("the 'rdnet.udp' section is missing from hocon/");
        var s = new UdpNatSettings(c.GetTimeSpan("idle-timeout"), c.GetInt("max-flows"), c.GetTimeSpan("stats-interval"));
        if (s.IdleTimeout <= TimeSpan.Zero) throw new ConfigurationException("rdnet.udp.idle-timeout must be a positive duration such as 90s");
        if (s.MaxFlows < 1) throw new ConfigurationException("rdnet.udp.max-flows must be a positive integer");
        return s;
    }
}

/// <summary>Messages of the UDP NAT and its flows.</summary>
public static class UdpProtocol
{
    /// <summary>
    /// A datagram from the guest for a flow. The flow owns <paramref name="Frame"/> and releases it; the payload is at
    /// <paramref name="PayloadOffset"/>, the IP header plus 8 bytes (what an ICMP error quotes) at
    /// <paramref name="QuoteOffset"/>. One told to a flow that stopped meanwhile is a dead letter (not logged) whose
    /// buffer the NAT returns to the pool.
    /// </summary>
    public sealed record GuestDatagram(FrameBuffer Frame, int PayloadOffset, int PayloadLength, int QuoteOffset, int QuoteLength, MacAddress GuestMac)
        : Akka.Event.IDeadLetterSuppression;

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    /// <param name="Flows">Flows open now (each one actor and one host socket).</param>
    /// <param name="Created">Flows opened since start.</param>
    /// <param name="Evicted">Flows closed to make room (LRU at max-flows).</param>
    /// <param name="Closed">Flows that ended on their own: idle timeout or failure.</param>
    /// <param name="Failed">Flow actors that threw and were stopped.</param>
    /// <param name="Drops">Datagrams the NAT and its flows refused, by reason.</param>
    public sealed record UdpNatStats(int Flows, long Created, long Evicted, long Closed, long Failed, IReadOnlyDictionary<Transport.Diagnostics.DropReason, long> Drops);
}
