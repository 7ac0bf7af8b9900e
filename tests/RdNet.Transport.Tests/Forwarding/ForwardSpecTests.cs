using System.Net;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Gateway;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Forwarding;

public sealed class ForwardSpecTests
{
    private static readonly VirtualNetwork Net = VirtualNetwork.Parse("192.168.127.0/24");

    private static ForwardSpec Ok(string local, string remote, string? protocol = null, string? caller = null)
    {
        Assert.True(ForwardSpec.TryParse(local, remote, protocol, caller is null ? null : Ipv4Address.Parse(caller), Net, out var spec, out var error), error?.Message);
        return spec!;
    }

    private static ForwardError Bad(string? local, string? remote, string? protocol = null, string? caller = null)
    {
        Assert.False(ForwardSpec.TryParse(local, remote, protocol, caller is null ? null : Ipv4Address.Parse(caller), Net, out _, out var error));
        return error!;
    }

    [Theory]
    [InlineData(":8080", "::", true)]
    [InlineData("0.0.0.0:8080", "::", true)]
    [InlineData("[::]:8080", "::", true)]
    [InlineData("127.0.0.1:8080", "127.0.0.1", false)]
    [InlineData("localhost:8080", "127.0.0.1", false)]
    [InlineData("[::1]:8080", "::1", false)]
    public void Local_addresses_parse_as_go_listens_wildcards_dual_stack(string local, string address, bool dual)
    {
        var s = Ok(local, "192.168.127.2:80");
        Assert.Equal(IPAddress.Parse(address), s.Listen!.Address);
        Assert.Equal(8080, s.Listen.Port);
        Assert.Equal(dual, s.DualStack);
        Assert.Equal($"tcp/{local}", s.Key);
    }

    [Fact]
    public void Protocol_defaults_to_tcp_and_unknown_ones_are_a_500_error()
    {
        Assert.Equal(ForwardProtocol.Tcp, Ok("127.0.0.1:1", "192.168.127.2:2").Protocol);
        Assert.Equal(ForwardProtocol.Tcp, Ok("127.0.0.1:1", "192.168.127.2:2", "").Protocol);
        Assert.Equal("udp/127.0.0.1:1", Ok("127.0.0.1:1", "192.168.127.2:2", "udp").Key);
        var e = Bad("127.0.0.1:1", "192.168.127.2:2", "TCP");
        Assert.Equal(ForwardErrorKind.Failed, e.Kind);
        Assert.Contains("unknown protocol 'TCP'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("127.0.0.1")]
    [InlineData("::1:80")]
    [InlineData("1.2:80")]
    [InlineData("example.com:80")]
    [InlineData("")]
    public void Bad_locals_are_500_errors_naming_the_format(string local)
    {
        var e = Bad(local, "192.168.127.2:80");
        Assert.Equal(ForwardErrorKind.Failed, e.Kind);
        Assert.Contains("invalid local", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("192.168.127.2")]
    [InlineData("")]
    [InlineData("a:b:c")]
    public void Remotes_that_do_not_split_as_host_port_are_400_errors(string remote)
    {
        Assert.Equal(ForwardErrorKind.BadRequest, Bad("127.0.0.1:1", remote).Kind);
    }

    // As the original (spec §5.8): a remote that splits as host:port but is no IPv4:port fails later, with 500.
    [Theory]
    [InlineData("192.168.127.2:0")]
    [InlineData("192.168.127.2:65536")]
    [InlineData("192.168.127.2:http")]
    [InlineData("[fd00::2]:80")]
    [InlineData("guest:80")]
    public void Remotes_that_split_but_are_not_ipv4_port_are_500_errors(string remote)
    {
        Assert.Equal(ForwardErrorKind.Failed, Bad("127.0.0.1:1", remote).Kind);
    }

    [Theory]
    [InlineData("10.0.0.2:80")]
    [InlineData("192.168.127.1:80")]
    [InlineData("192.168.127.254:80")]
    [InlineData("192.168.127.255:80")]
    public void Remotes_outside_the_guests_of_the_virtual_network_are_refused(string remote)
    {
        var e = Bad("127.0.0.1:1", remote);
        Assert.Equal(ForwardErrorKind.Failed, e.Kind);
        Assert.Contains("not a guest address", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_remote_host_is_the_callers_address_and_without_a_caller_a_400()
    {
        var s = Ok("127.0.0.1:9090", ":8080", caller: "192.168.127.2");
        Assert.Equal("192.168.127.2:8080", s.Remote);
        Assert.Equal(8080, s.GuestPort);
        var e = Bad("127.0.0.1:9090", ":8080");
        Assert.Equal(ForwardErrorKind.BadRequest, e.Kind);
        Assert.Contains("caller", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unix_forwards_take_a_path_and_a_tcp_uri()
    {
        var s = Ok("/tmp/a.sock", "tcp://192.168.127.2:22", "unix");
        Assert.Equal("/tmp/a.sock", s.Path);
        Assert.Equal("tcp://192.168.127.2:22", s.Remote);
        Assert.Equal("unix//tmp/a.sock", s.Key);
        Assert.Equal(ForwardErrorKind.Failed, Bad("/tmp/a.sock", "192.168.127.2:22", "unix").Kind);
        Assert.Equal(ForwardErrorKind.Failed, Bad("/tmp/a.sock", "ssh-tunnel://u@h/x", "unix").Kind);
        Assert.Equal(ForwardErrorKind.Failed, Bad("", "tcp://192.168.127.2:22", "unix").Kind);
    }

    [Fact]
    public void A_static_rule_becomes_a_tcp_forward()
    {
        Assert.True(ForwardSpec.TryFromRule(PortForwardRule.Parse("127.0.0.1:2222=192.168.127.2:22"), Net, out var s, out _));
        Assert.Equal("tcp/127.0.0.1:2222", s!.Key);
        Assert.True(ForwardSpec.TryFromRule(PortForwardRule.Parse("[::1]:2222=192.168.127.2:22"), Net, out s, out _));
        Assert.Equal("tcp/[::1]:2222", s!.Key);
        Assert.False(ForwardSpec.TryFromRule(PortForwardRule.Parse("127.0.0.1:2222=10.0.0.2:22"), Net, out _, out var e));
        Assert.Contains("not a guest address", e!.Message, StringComparison.Ordinal);
    }
}
