using RdNet.Transport.Diagnostics;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Gateway;

public sealed class EgressPolicyTests
{
    private static readonly VirtualNetwork Net = VirtualNetwork.Parse("192.168.127.0/24");

    private static (bool Ok, string Host, DropReason Reason) Resolve(EgressPolicy p, string destination)
    {
        var ok = p.TryResolve(Ipv4Address.Parse(destination), Net, out var host, out var reason);
        return (ok, ok ? host.ToString() : "", reason);
    }

    private static EgressPolicy Policy(string[] allow, string[] deny) =>
        new(allow.Select(Ipv4Cidr.Parse).ToList(), deny.Select(Ipv4Cidr.Parse).ToList());

    [Fact]
    public void The_host_alias_maps_to_the_hosts_loopback()
    {
        Assert.Equal((true, "127.0.0.1", DropReason.None), Resolve(EgressPolicy.Default, "192.168.127.254"));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("0.1.2.3")]
    [InlineData("224.0.0.251")]
    [InlineData("239.255.255.250")]
    [InlineData("255.255.255.255")]
    [InlineData("240.0.0.1")]
    [InlineData("192.168.127.2")]
    [InlineData("192.168.127.77")]
    public void Martians_and_other_virtual_subnet_addresses_are_never_forwarded(string destination)
    {
        Assert.Equal((false, "", DropReason.EgressMartian), Resolve(Policy(["0.0.0.0/0"], []), destination));
    }

    [Fact]
    public void Link_local_is_blocked_by_default_and_opened_only_by_an_allow_entry_covering_it()
    {
        Assert.Equal(DropReason.EgressLinkLocal, Resolve(EgressPolicy.Default, "169.254.169.254").Reason);
        Assert.Equal(DropReason.EgressDenied, Resolve(Policy(["169.254.0.0/16"], ["169.254.169.254"]), "169.254.169.254").Reason);
        Assert.True(Resolve(Policy(["169.254.169.254"], []), "169.254.169.254").Ok);
    }

    [Fact]
    public void With_an_allow_list_only_covered_destinations_pass()
    {
        var p = Policy(["127.0.0.0/8"], []);
        Assert.True(Resolve(p, "192.168.127.254").Ok);
        Assert.Equal(DropReason.EgressNotAllowed, Resolve(p, "10.1.2.3").Reason);
        Assert.Equal(DropReason.EgressNotAllowed, Resolve(p, "169.254.169.254").Reason);
    }

    [Fact]
    public void Deny_wins_over_allow()
    {
        var p = Policy(["10.0.0.0/8"], ["10.9.0.0/16"]);
        Assert.True(Resolve(p, "10.8.1.1").Ok);
        Assert.Equal(DropReason.EgressDenied, Resolve(p, "10.9.1.1").Reason);
        Assert.Equal(DropReason.EgressDenied, Resolve(Policy([], ["127.0.0.0/8"]), "192.168.127.254").Reason);
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8")]
    [InlineData("10.1.2.3", "10.1.2.3/32")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    public void Cidrs_parse(string text, string expected) => Assert.Equal(expected, Ipv4Cidr.Parse(text).ToString());

    [Theory]
    [InlineData("10.0.0.1/8", "host bits")]
    [InlineData("10.0.0.0/33", "expected")]
    [InlineData("10.0.0/8", "expected")]
    [InlineData("", "expected")]
    [InlineData("10.0.0.0/-1", "expected")]
    [InlineData("example", "expected")]
    public void Bad_cidrs_fail_naming_the_expected_format(string text, string fragment)
    {
        Assert.False(Ipv4Cidr.TryParse(text, out _, out var error));
        Assert.Contains(fragment, error, StringComparison.Ordinal);
        Assert.Contains("IPv4 CIDR", error, StringComparison.Ordinal);
    }
}
