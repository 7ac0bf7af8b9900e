using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Links;

public class LinkEndpointTests
{
    [Theory]
    [InlineData("unix:///run/rdnet/x.sock", LinkScheme.Unix)]
    [InlineData("tcp://127.0.0.1:7000", LinkScheme.Tcp)]
    [InlineData("tcp://[::1]:7000", LinkScheme.Tcp)]
    [InlineData("vsock://2:6656", LinkScheme.Vsock)]
    [InlineData("vsock://any:6669", LinkScheme.Vsock)]
    [InlineData("fd://3", LinkScheme.Fd)]
    public void Valid_endpoints_parse_and_print_back(string text, LinkScheme scheme)
    {
        var e = LinkEndpoint.Parse(text);
        Assert.Equal(scheme, e.Scheme);
        Assert.Equal(text, e.ToString());
    }

    [Fact]
    public void Vsock_host_is_cid_2_and_any_is_the_wildcard()
    {
        Assert.Equal(2u, LinkEndpoint.Parse("vsock://host:6656").Cid);
        Assert.Equal(0xFFFF_FFFFu, LinkEndpoint.Parse("vsock://any:6656").Cid);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/run/x.sock")]
    [InlineData("unix://relative.sock")]
    [InlineData("tcp://localhost:7000")]
    [InlineData("tcp://127.0.0.1:0")]
    [InlineData("tcp://127.0.0.1:70000")]
    [InlineData("vsock://two:6656")]
    [InlineData("fd://-1")]
    [InlineData("http://127.0.0.1:80")]
    public void Invalid_endpoints_fail_naming_the_expected_format(string text)
    {
        Assert.False(LinkEndpoint.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
        Assert.Contains(text.Length == 0 ? "expected" : text, error, StringComparison.Ordinal);
    }
}
