using Akka.Configuration;
using RdNet.Actors.Dns;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Tests.Dns;

public sealed class DnsSettingsTests
{
    private static string Hocon(string zones, int udp = 1232) => $$"""
        rdnet.dns {
          zones = {{zones}}
          ttl = 0
          negative-ttl = 60
          udp-payload-size = {{udp}}
          query-timeout = 5s
          max-concurrent-queries = 256
          tcp-max-connections = 64
          tcp-max-pipelined = 16
          tcp-idle-timeout = 10s
          upstream-timeout = 2s
          upstream-attempts = 2
        }
        """;

    [Fact]
    public void The_shipped_hocon_gives_the_originals_zones_derived_from_the_subnet()
    {
        var hocon = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(RepoRoot(), "hocon", "rdnet.hocon")));
        var s = DnsSettings.FromConfig(hocon, VirtualNetwork.Parse("10.77.8.0/24"));
        Assert.Equal(["rancher-desktop.internal.", "docker.internal."], s.Zones.Select(z => z.Fqdn));
        foreach (var z in s.Zones)
        {
            Assert.Equal(Ipv4Address.Parse("10.77.8.254"), z.Records["host"]);
            Assert.Equal(Ipv4Address.Parse("10.77.8.1"), z.Records["gateway"]);
        }
        Assert.Equal(1232, s.UdpPayloadSize);
        Assert.Equal(256, s.MaxConcurrentQueries);
    }

    [Fact]
    public void Zones_and_records_are_configurable_and_the_udp_size_is_capped_at_the_mtu()
    {
        var config = ConfigurationFactory.ParseString(Hocon("""[ { name = "Corp.Internal.", records = [ { name = DB, address = "10.1.1.1" }, { name = me, address = guest } ] } ]""", udp: 9000));
        var s = DnsSettings.FromConfig(config, VirtualNetwork.Parse("192.168.127.0/24"));
        var zone = Assert.Single(s.Zones);
        Assert.Equal("corp.internal.", zone.Fqdn);
        Assert.Equal(Ipv4Address.Parse("10.1.1.1"), zone.Records["db"]);
        Assert.Equal(Ipv4Address.Parse("192.168.127.2"), zone.Records["me"]);
        Assert.Equal(1500 - 28, s.UdpPayloadSize);
    }

    [Fact]
    public void A_bad_record_address_names_the_expected_format()
    {
        var config = ConfigurationFactory.ParseString(Hocon("""[ { name = x, records = [ { name = a, address = "300.1.1.1" } ] } ]"""));
        var e = Assert.Throws<ConfigurationException>(() => DnsSettings.FromConfig(config, VirtualNetwork.Parse("192.168.127.0/24")));
        Assert.Contains("dotted quad or gateway / host-alias / guest", e.Message, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RdNet.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("RdNet.sln not found");
    }
}
