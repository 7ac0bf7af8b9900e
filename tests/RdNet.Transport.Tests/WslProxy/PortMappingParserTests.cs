using System.Net;
using System.Net.Sockets;
using System.Text;
using FsCheck.Xunit;
using RdNet.Transport.WslProxy;

namespace RdNet.Transport.Tests.WslProxy;

public sealed class PortMappingParserTests
{
    private static PortMapping Parse(string json, int max = 100)
    {
        Assert.True(PortMappingParser.TryParse(Encoding.UTF8.GetBytes(json), max, out var m, out var error), error);
        return m;
    }

    private static string Refused(string json, int max = 100)
    {
        Assert.False(PortMappingParser.TryParse(Encoding.UTF8.GetBytes(json), max, out _, out var error), "accepted: " + json);
        return error;
    }

    [Fact]
    public void The_spec_example_gives_a_dual_stack_tcp_listener_and_a_loopback_udp_listener()
    {
        var m = Parse("""
            {"remove":false,
             "ports":{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],
                      "5353/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}]},
             "connectAddrs":null}
            """);
        Assert.False(m.Remove);
        Assert.Empty(m.Rejected);
        Assert.Equal([new ListenerKey(ProxyProtocol.Tcp, null, 8080), new ListenerKey(ProxyProtocol.Udp, IPAddress.Loopback, 5353)], m.Listeners);
    }

    [Fact]
    public void Remove_true_with_a_key_without_protocol_means_tcp_and_uppercase_protocols_are_accepted()
    {
        var m = Parse("""{"remove":true,"ports":{"6443":[{"HostIp":"127.0.0.1","HostPort":"6443"}],"53/UDP":[{"HostIp":"","HostPort":"53"}]}}""");
        Assert.True(m.Remove);
        Assert.Equal([new ListenerKey(ProxyProtocol.Tcp, IPAddress.Loopback, 6443), new ListenerKey(ProxyProtocol.Udp, null, 53)], m.Listeners);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("0.0.0.0", null)]
    [InlineData("::", null)]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::1", "::1")]
    [InlineData("::ffff:127.0.0.2", "127.0.0.2")]
    [InlineData("192.168.143.2", "192.168.143.2")]
    public void HostIp_forms_map_to_the_address_bound(string hostIp, string? expected)
    {
        Assert.True(PortMappingParser.TryParseHostIp(hostIp, out var a, out var e), e);
        Assert.Equal(expected, a?.ToString());
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("1")]
    [InlineData("127.1")]
    [InlineData("256.0.0.1")]
    [InlineData(" 127.0.0.1")]
    [InlineData("fe80::1%eth0")]
    [InlineData("::g")]
    public void HostIp_that_is_not_a_literal_address_is_refused(string hostIp)
    {
        Assert.False(PortMappingParser.TryParseHostIp(hostIp, out _, out var e));
        Assert.Contains("not an IP address", e, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("-1")]
    [InlineData("+80")]
    [InlineData(" 80")]
    [InlineData("80a")]
    [InlineData("")]
    [InlineData("100000")]
    public void Bad_ports_are_refused(string port) => Assert.False(PortMappingParser.TryParsePort(port, out _));

    [Property]
    public bool Every_port_from_1_to_65535_parses_back_to_itself(ushort raw)
    {
        var p = raw == 0 ? 1 : (int)raw;
        return PortMappingParser.TryParsePort(p.ToString(System.Globalization.CultureInfo.InvariantCulture), out var q) && q == p;
    }

    [Fact]
    public void Bad_entries_are_refused_one_by_one_and_the_good_ones_still_apply()
    {
        var m = Parse("""
            {"remove":false,"ports":{
              "80/sctp":[{"HostIp":"","HostPort":"80"}],
              "x/tcp":[{"HostIp":"","HostPort":"81"}],
              "82/tcp":[{"HostIp":"","HostPort":"0"},{"HostIp":"nope","HostPort":"82"},{"HostIp":"127.0.0.1","HostPort":"82"},{"HostPort":"83x","Extra":1},{"HostIp":"127.0.0.1"}],
              "84/udp":"oops",
              "85/udp":null
            }}
            """);
        Assert.Equal([new ListenerKey(ProxyProtocol.Tcp, IPAddress.Loopback, 82)], m.Listeners);
        Assert.Equal(7, m.Rejected.Count);
        Assert.Contains(m.Rejected, r => r.Contains("unknown protocol \"sctp\"", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("port \"x\" is not a number", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("HostPort \"0\" is not a number 1-65535", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("HostIp \"nope\"", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("HostPort \"83x\" is not a number", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("\"HostPort\" is missing", StringComparison.Ordinal));
        Assert.Contains(m.Rejected, r => r.Contains("\"84/udp\": bindings are a JSON string", StringComparison.Ordinal));
    }

    [Fact]
    public void Field_names_match_case_insensitively_and_unknown_fields_are_ignored_as_go_decodes_them()
    {
        Assert.True(PortMappingParser.TryParse("""
            {"Remove":true,"Future":{"x":[1]},"PORTS":{"8080/tcp":[{"hostip":"127.0.0.1","HOSTPORT":"8080","Note":"n"}]},
             "connectaddrs":[{"Network":"tcp","Addr":"1.2.3.4:80","Extra":true}]}
            """u8, 16, out var m, out var error), error);
        Assert.True(m.Remove);
        Assert.Equal([new ListenerKey(ProxyProtocol.Tcp, IPAddress.Loopback, 8080)], m.Listeners);
        Assert.Empty(m.Rejected);
    }

    [Theory]
    [InlineData("", "empty document")]
    [InlineData("   ", "malformed JSON")]
    [InlineData("{\"remove\":fal", "malformed JSON")]
    [InlineData("{\"remove\":false,}", "malformed JSON")]
    [InlineData("{\"remove\":false /* c */}", "malformed JSON")]
    [InlineData("[]", "the document is a JSON array")]
    [InlineData("\"x\"", "the document is a JSON string")]
    [InlineData("{\"remove\":\"yes\"}", "\"remove\" is a JSON string")]
    [InlineData("{\"ports\":[]}", "\"ports\" is a JSON array")]
    [InlineData("{\"remove\":true,\"remove\":false}", "appears twice")]
    [InlineData("{\"ports\":{\"80\":null,\"80\":null}}", "port \"80\" appears twice")]
    [InlineData("{\"connectAddrs\":{}}", "\"connectAddrs\" is a JSON object")]
    [InlineData("{\"connectAddrs\":[{\"network\":1}]}", "\"connectAddrs\" entry field \"network\" is a JSON number")]
    [InlineData("{\"ports\":{\"80\":[[[[[[[[[[1]]]]]]]]]]}}", "malformed JSON")]
    public void A_document_that_is_not_a_PortMapping_is_refused_whole_with_the_reason(string json, string reason) =>
        Assert.Contains(reason, Refused(json), StringComparison.Ordinal);

    [Fact]
    public void Too_many_listeners_in_one_document_are_refused_whole() =>
        Assert.Contains("at most 2", Refused("""{"ports":{"1":[{"HostIp":"","HostPort":"1"}],"2":[{"HostIp":"","HostPort":"2"}],"3":[{"HostIp":"","HostPort":"3"}]}}""", max: 2), StringComparison.Ordinal);

    [Fact]
    public void Connect_addrs_of_the_documented_shape_and_a_trailing_newline_are_accepted()
    {
        var m = Parse("{\"remove\":false,\"ports\":{},\"connectAddrs\":[{\"network\":\"tcp\",\"addr\":\"192.168.127.2:80\"}]}\n");
        Assert.Empty(m.Listeners);
    }

    [Fact]
    public void The_same_binding_twice_gives_one_listener()
    {
        var m = Parse("""{"ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"80"},{"HostIp":"::","HostPort":"80"},{"HostIp":"","HostPort":"80"}]}}""");
        Assert.Single(m.Listeners);
    }

    [Fact]
    public void Only_the_first_json_value_counts_and_trailing_bytes_are_ignored_as_the_original()
    {
        var m = Parse("""{"ports":{"80":[{"HostIp":"","HostPort":"80"}]}}{"remove":true} trailing garbage""");
        Assert.False(m.Remove);
        Assert.Single(m.Listeners);
    }

    [Theory]
    [InlineData("{\"a\":1", false, JsonValueBoundary.Incomplete)]
    [InlineData("  {\"a\":[1,2]}  {", false, JsonValueBoundary.Complete)]
    [InlineData("{\"a\":1", true, JsonValueBoundary.Malformed)]
    [InlineData("}", false, JsonValueBoundary.Malformed)]
    [InlineData("", false, JsonValueBoundary.Incomplete)]
    public void The_end_of_the_first_value_is_found_incrementally(string text, bool end, JsonValueBoundary expected)
    {
        Assert.Equal(expected, PortMappingParser.FindFirstValue(Encoding.UTF8.GetBytes(text), end, out var length));
        if (expected == JsonValueBoundary.Complete) Assert.Equal("  {\"a\":[1,2]}".Length, length);
    }

    [Property]
    public bool Arbitrary_bytes_never_throw(byte[] bytes)
    {
        PortMappingParser.TryParse(bytes ?? [], 100, out _, out _);
        PortMappingParser.FindFirstValue(bytes ?? [], endOfInput: false, out _);
        return true;
    }

    [Property]
    public bool Arbitrary_strings_as_a_binding_never_throw(string hostIp, string hostPort)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new { ports = new Dictionary<string, object[]> { ["80/tcp"] = [new { HostIp = hostIp, HostPort = hostPort }] } });
        return PortMappingParser.TryParse(Encoding.UTF8.GetBytes(json), 100, out var m, out _) && m.Listeners.Count + m.Rejected.Count == 1;
    }

    [Fact]
    public void Listener_keys_differ_by_protocol_address_and_port_and_print_readably()
    {
        var a = new ListenerKey(ProxyProtocol.Tcp, IPAddress.Loopback, 80);
        Assert.Equal(a, new ListenerKey(ProxyProtocol.Tcp, IPAddress.Parse("127.0.0.1"), 80));
        Assert.NotEqual(a, new ListenerKey(ProxyProtocol.Udp, IPAddress.Loopback, 80));
        Assert.NotEqual(a, new ListenerKey(ProxyProtocol.Tcp, IPAddress.Parse("127.0.0.2"), 80));
        Assert.NotEqual(a, new ListenerKey(ProxyProtocol.Tcp, null, 80));
        Assert.Equal("tcp/127.0.0.1:80", a.ToString());
        Assert.Equal("udp/*:53", new ListenerKey(ProxyProtocol.Udp, null, 53).ToString());
        Assert.Equal("tcp/[::1]:8080", new ListenerKey(ProxyProtocol.Tcp, IPAddress.IPv6Loopback, 8080).ToString());
        Assert.Equal(AddressFamily.InterNetworkV6, IPAddress.IPv6Loopback.AddressFamily);
    }
}
