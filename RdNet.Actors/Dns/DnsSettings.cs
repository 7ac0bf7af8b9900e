using Akka.Configuration;
using RdNet.Transport.Gateway;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Dns;

/// <summary>The <c>rdnet.dns</c> section of hocon/: zones, TTLs and every bound of the gateway's DNS.</summary>
public sealed record DnsSettings(
    IReadOnlyList<DnsZone> Zones,
    uint Ttl,
    uint NegativeTtl,
    int UdpPayloadSize,
    TimeSpan QueryTimeout,
    int MaxConcurrentQueries,
    int MaxTcpConnections,
    int MaxPipelinedPerConnection,
    TimeSpan TcpIdleTimeout,
    TimeSpan UpstreamTimeout,
    int UpstreamAttempts)
{
    /// <summary>IPv4 (20) and UDP (8) headers: a UDP reply is never fragmented, so it fits the MTU.</summary>
    private const int IpUdpHeaders = 28;

    public DnsServerOptions ServerOptions => new(Zones, Ttl, NegativeTtl, UdpPayloadSize);

    /// <summary>Reads <c>rdnet.dns</c>; record addresses may be a dotted quad or "gateway" / "host-alias" / "guest" of <paramref name="network"/>.</summary>
    public static DnsSettings FromConfig(Config config, VirtualNetwork network)
    {
        var d = config.GetConfig("rdnet.dns") ?? throw new ConfigurationException("the 'rdnet.dns' section is missing from hocon/");
        var zones = new List<DnsZone>();
        foreach (var z in d.GetValue("zones").GetArray())
        {
            var zc = new Config(new Akka.Configuration.Hocon.HoconRoot(z));
            var name = zc.GetString("name") ?? throw new ConfigurationException("rdnet.dns.zones: a zone without a name");
            var records = new Dictionary<string, Ipv4Address>();
            foreach (var r in zc.GetValue("records").GetArray())
            {
                var rc = new Config(new Akka.Configuration.Hocon.HoconRoot(r));
                var rname = rc.GetString("name") ?? throw new ConfigurationException($"rdnet.dns zone {name}: a record without a name");
                records[rname.TrimEnd('.').ToLowerInvariant()] = Address(rc.GetString("address"), network, $"{rname}.{name}");
            }
            zones.Add(new DnsZone(name, records));
        }
        var udp = d.GetInt("udp-payload-size");
        if (udp < DnsServer.ClassicUdpLimit)
            throw new ConfigurationException($"rdnet.dns.udp-payload-size {udp}: expected at least {DnsServer.ClassicUdpLimit}");
        return new DnsSettings(
            zones,
            (uint)d.GetInt("ttl"),
            (uint)d.GetInt("negative-ttl"),
            Math.Min(udp, network.Mtu - IpUdpHeaders),
            d.GetTimeSpan("query-timeout"),
            d.GetInt("max-concurrent-queries"),
            d.GetInt("tcp-max-connections"),
            d.GetInt("tcp-max-pipelined"),
            d.GetTimeSpan("tcp-idle-timeout"),
            d.GetTimeSpan("upstream-timeout"),
            d.GetInt("upstream-attempts"));
    }

    private static Ipv4Address Address(string? text, VirtualNetwork network, string what) => text switch
    {
        "gateway" => network.Gateway,
        "host-alias" => network.HostAlias,
        "guest" => network.Guest,
        _ when Ipv4Address.TryParse(text, out var a) => a,
        _ => throw new ConfigurationException($"rdnet.dns record {what}: address '{text}' is not a dotted quad or gateway / host-alias / guest"),
    };
}
