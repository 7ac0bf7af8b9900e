using RdNet.Cli.Local;

namespace RdNet.Cli.Tests;

public sealed class LocalStackPlanTests
{
    private static LocalStackPlan Up(params string[] args) => LocalStackPlan.Parse(args, allowCommand: false);

    private static LocalStackPlan Run(params string[] args) => LocalStackPlan.Parse(args, allowCommand: true);

    [Fact]
    public void The_default_name_keeps_its_files_in_run_rdnet_so_the_api_is_where_the_clients_look()
    {
        var p = Up();
        Assert.Equal("rdnet", p.Name);
        Assert.Equal("/run/rdnet", p.RuntimeDir);
        Assert.Equal(Api.HostApiClient.DefaultEndpoint, "unix://" + p.ApiSocket);
        Assert.Equal("/run/rdnet/demo", Up("--name", "demo").RuntimeDir);
    }

    [Fact]
    public void Host_switch_does_the_handshake_over_the_runtime_folder_and_gets_its_own_options()
    {
        var p = Up("--name", "t1", "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:5353", "--mtu", "9000", "--tap-interface", "eth1");
        Assert.Equal(
            ["--vm-handshake", "unix:///run/rdnet/t1/handshake.sock", "--vm-data-listen", "unix:///run/rdnet/t1/data.sock",
             "--api", "unix:///run/rdnet/t1/api.sock", "--outbound-allow", "127.0.0.0/8", "--dns-upstream", "127.0.0.1:5353", "--mtu", "9000"],
            p.HostSwitchArguments());
        var ns = p.NetworkSetupArguments("/run/rdnet/t1/vm-switch");
        Assert.Equal(["--handshake-listen", "unix:///run/rdnet/t1/handshake.sock", "--host-data", "unix:///run/rdnet/t1/data.sock", "--netns-name", "t1"], ns.Take(6));
        Assert.Equal(["--tap-interface", "eth1"], ns.TakeLast(2));
        Assert.Equal("eth1", p.TapInterface);
        Assert.DoesNotContain("--mtu", ns);
    }

    [Fact]
    public void Debug_and_subnet_go_to_both_roles_and_go_style_booleans_keep_their_value()
    {
        var p = Up("--subnet", "10.77.8.0/24", "--debug", "true", "--trace-packets");
        Assert.Equal(["--subnet", "10.77.8.0/24", "--debug", "true", "--trace-packets"], p.HostSwitchArguments().Skip(6));
        Assert.Equal(["--subnet", "10.77.8.0/24", "--debug", "true", "--trace-packets"], p.NetworkSetupArguments("x").TakeLast(5));
        Assert.True(p.Debug);
        Assert.Equal("nameserver 10.77.8.1", p.ResolvConf.Split('\n')[1]);
    }

    [Fact]
    public void Publish_becomes_a_static_forward_from_host_loopback_to_the_guests_address()
    {
        var p = Run("--subnet", "10.77.8.0/24", "--publish", "8080:80", "--publish", "2222:22", "--", "sleep", "1");
        Assert.Equal(["sleep", "1"], p.Command);
        var hs = p.HostSwitchArguments();
        Assert.Equal(["--port-forward", "127.0.0.1:8080=10.77.8.2:80", "--port-forward", "127.0.0.1:2222=10.77.8.2:22"], hs.Skip(6).Take(4));
    }

    [Theory]
    [InlineData("8080")]
    [InlineData("0:80")]
    [InlineData("8080:65536")]
    [InlineData("a:b")]
    [InlineData("1:2:3")]
    public void A_bad_publish_names_the_expected_format(string value)
    {
        var e = Assert.Throws<LocalStackException>(() => Run("--publish", value, "--", "true"));
        Assert.Contains("HOST:GUEST", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--vm-handshake", "unix:///x" }, "set by rdnet up itself")]
    [InlineData(new[] { "--netns-name", "x" }, "set by rdnet up itself")]
    [InlineData(new[] { "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "--mtu", "12" }, "invalid --mtu 12")]
    [InlineData(new[] { "--subnet", "300.1.1.0/24" }, "300.1.1.0/24")]
    [InlineData(new[] { "--name", "a/b" }, "invalid --name 'a/b'")]
    [InlineData(new[] { "--", "true" }, "rdnet up runs no command")]
    [InlineData(new[] { "--mtu" }, "--mtu needs a value")]
    public void Bad_up_command_lines_are_refused_with_a_clear_message(string[] args, string expected)
    {
        var e = Assert.Throws<LocalStackException>(() => Up(args));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_without_a_command_says_how_to_give_one()
    {
        var e = Assert.Throws<LocalStackException>(() => Run("--publish", "80:80"));
        Assert.Contains("needs a command after --", e.Message, StringComparison.Ordinal);
    }
}
