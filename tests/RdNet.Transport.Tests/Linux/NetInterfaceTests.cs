using RdNet.Transport.Linux;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Linux;

public sealed class NetInterfaceTests(NetworkNamespaceFixture ns) : IClassFixture<NetworkNamespaceFixture>
{
    [Fact]
    public void Exists_is_false_for_a_missing_interface_and_true_for_loopback()
    {
        var (missing, lo) = NetNamespace.RunIn(ns.Name, () => (NetInterface.Exists("nosuch0"), NetInterface.Exists("lo")));

        Assert.False(missing);
        Assert.True(lo);
    }

    [Fact]
    public void GetIndex_of_a_missing_interface_throws_ENODEV_naming_the_ioctl_and_the_interface()
    {
        var e = Assert.Throws<LinuxNetworkException>(() => NetNamespace.RunIn(ns.Name, () => NetInterface.GetIndex("nosuch0")));

        Assert.Equal(19, e.Errno);
        Assert.Equal("SIOCGIFINDEX on nosuch0: No such device (errno 19)", e.Message);
    }

    [Fact]
    public void Loopback_has_index_1_in_a_fresh_namespace()
    {
        Assert.Equal(1, NetNamespace.RunIn(ns.Name, () => NetInterface.GetIndex("lo")));
    }

    [Fact]
    public void SetUp_brings_loopback_up()
    {
        var (before, after) = NetNamespace.RunIn(ns.Name, () =>
        {
            var b = NetInterface.IsUp("lo");
            NetInterface.SetUp("lo");
            return (b, NetInterface.IsUp("lo"));
        });

        Assert.False(before);
        Assert.True(after);
    }

    [Fact]
    public void Creating_a_tap_makes_the_interface_exist_with_that_name()
    {
        var (name, exists) = NetNamespace.RunIn(ns.Name, () =>
        {
            using var tap = TapDevice.Create("tap0");
            return (tap.Name, NetInterface.Exists("tap0"));
        });

        Assert.Equal("tap0", name);
        Assert.True(exists);
    }

    [Fact]
    public void A_MAC_address_set_on_a_tap_reads_back_unchanged()
    {
        var mac = MacAddress.Parse("02:52:64:4e:65:74");

        var read = NetNamespace.RunIn(ns.Name, () =>
        {
            using var tap = TapDevice.Create("tapmac0");
            NetInterface.SetMacAddress("tapmac0", mac);
            return NetInterface.GetMacAddress("tapmac0");
        });

        Assert.Equal(mac, read);
    }

    [Fact]
    public void Setting_a_multicast_MAC_fails_with_the_kernel_error_naming_SIOCSIFHWADDR()
    {
        var e = Assert.Throws<LinuxNetworkException>(() => NetNamespace.RunIn(ns.Name, () =>
        {
            using var tap = TapDevice.Create("tapmac1");
            NetInterface.SetMacAddress("tapmac1", MacAddress.Parse("01:00:5e:00:00:01"));
        }));

        Assert.StartsWith("SIOCSIFHWADDR on tapmac1: ", e.Message);
    }

    [Fact]
    public void An_MTU_set_on_a_tap_reads_back_unchanged()
    {
        var (initial, changed) = NetNamespace.RunIn(ns.Name, () =>
        {
            using var tap = TapDevice.Create("tapmtu0");
            var i = NetInterface.GetMtu("tapmtu0");
            NetInterface.SetMtu("tapmtu0", 4000);
            return (i, NetInterface.GetMtu("tapmtu0"));
        });

        Assert.Equal(1500, initial);
        Assert.Equal(4000, changed);
    }

    [Fact]
    public void An_address_with_prefix_and_a_default_route_show_up_in_iproute2()
    {
        using var tap = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("taprt0");
            NetInterface.SetAddress("taprt0", Ipv4Address.Parse("10.98.0.2"), 24);
            NetInterface.SetUp("taprt0");
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.98.0.1"), "taprt0");
            return t;
        });

        var addresses = IpCommand.Run("-n", ns.Name, "-o", "-4", "addr", "show", "dev", "taprt0");
        var routes = IpCommand.Run("-n", ns.Name, "route");

        Assert.Contains("inet 10.98.0.2/24 brd 10.98.0.255", addresses);
        Assert.Contains("default via 10.98.0.1 dev taprt0", routes);
        Assert.Contains("10.98.0.0/24 dev taprt0", routes);
    }

    [Fact]
    public void Adding_the_same_default_route_twice_succeeds_and_leaves_one_route()
    {
        using var tap = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("taprt1");
            NetInterface.SetAddress("taprt1", Ipv4Address.Parse("10.97.0.2"), 24);
            NetInterface.SetUp("taprt1");
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.97.0.1"));
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.97.0.1"));
            return t;
        });

        var routes = IpCommand.Run("-n", ns.Name, "route", "show", "default");

        Assert.Single(routes.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("via 10.97.0.1"));
    }

    [Fact]
    public void A_default_route_via_another_gateway_is_added_beside_the_first_rather_than_replacing_it()
    {
        // SIOCADDRT asks for NLM_F_CREATE without NLM_F_EXCL: the kernel answers EEXIST only for an
        // identical route and otherwise appends, so callers wanting one default must not add twice.
        using var tap = NetNamespace.RunIn(ns.Name, () =>
        {
            var t = TapDevice.Create("taprt2");
            NetInterface.SetAddress("taprt2", Ipv4Address.Parse("10.96.0.2"), 24);
            NetInterface.SetUp("taprt2");
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.96.0.1"), "taprt2");
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.96.0.3"), "taprt2");
            return t;
        });

        var routes = IpCommand.Run("-n", ns.Name, "route", "show", "default");

        Assert.Contains("default via 10.96.0.1 dev taprt2", routes);
        Assert.Contains("default via 10.96.0.3 dev taprt2", routes);
    }

    [Fact]
    public void The_default_route_lookup_reads_the_calling_threads_namespace_and_matches_gateway_and_device()
    {
        var (same, otherGateway, otherDevice, anyDevice) = NetNamespace.RunIn(ns.Name, () =>
        {
            using var t = TapDevice.Create("taprt3");
            NetInterface.SetAddress("taprt3", Ipv4Address.Parse("10.95.0.2"), 24);
            NetInterface.SetUp("taprt3");
            NetInterface.AddDefaultRoute(Ipv4Address.Parse("10.95.0.1"), "taprt3");
            return (
                NetInterface.HasDefaultRoute(Ipv4Address.Parse("10.95.0.1"), "taprt3"),
                NetInterface.HasDefaultRoute(Ipv4Address.Parse("10.95.0.9"), "taprt3"),
                NetInterface.HasDefaultRoute(Ipv4Address.Parse("10.95.0.1"), "lo"),
                NetInterface.HasDefaultRoute(Ipv4Address.Parse("10.95.0.1"), null));
        });

        Assert.True(same);
        Assert.False(otherGateway);
        Assert.False(otherDevice);
        Assert.True(anyDevice);
    }

    [Fact]
    public void A_default_route_via_an_unreachable_gateway_fails_naming_SIOCADDRT()
    {
        var e = Assert.Throws<LinuxNetworkException>(() =>
            NetNamespace.RunIn(ns.Name, () => NetInterface.AddDefaultRoute(Ipv4Address.Parse("192.0.2.1"))));

        Assert.StartsWith("SIOCADDRT on default via 192.0.2.1: ", e.Message);
    }

    [Theory]
    [InlineData(0, "0.0.0.0")]
    [InlineData(8, "255.0.0.0")]
    [InlineData(24, "255.255.255.0")]
    [InlineData(31, "255.255.255.254")]
    [InlineData(32, "255.255.255.255")]
    public void A_prefix_length_becomes_the_matching_netmask(int prefix, string mask)
    {
        Assert.Equal(Ipv4Address.Parse(mask), NetInterface.PrefixToMask(prefix));
    }
}
