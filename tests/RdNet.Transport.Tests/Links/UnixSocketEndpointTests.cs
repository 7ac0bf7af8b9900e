using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Links;

public class UnixSocketEndpointTests
{
    [Theory]
    [InlineData("unix:///run/rdnet/api.sock", "/run/rdnet/api.sock")]
    [InlineData("unix:///x", "/x")]
    [InlineData("UNIX:///tmp/a b.sock", "/tmp/a b.sock")]
    public void An_absolute_path_parses_to_that_path(string text, string path)
    {
        Assert.True(UnixSocketEndpoint.TryParse(text, out var parsed, out var error), error);
        Assert.Equal(path, parsed);
        Assert.Equal(path, UnixSocketEndpoint.Parse(text));
    }

    [Fact]
    public void A_path_of_exactly_107_bytes_fits_a_sockaddr_un()
    {
        var path = "/" + new string('a', 106);
        Assert.True(UnixSocketEndpoint.TryParse("unix://" + path, out var parsed, out _));
        Assert.Equal(path, parsed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("unix://")]
    [InlineData("unix:///")]
    [InlineData("unix://relative.sock")]
    [InlineData("unix:/run/x.sock")]
    [InlineData("/run/x.sock")]
    [InlineData("npipe:////./pipe/x")]
    [InlineData("unix:///run/\0x.sock")]
    public void Anything_else_fails_naming_the_expected_form(string? text)
    {
        Assert.False(UnixSocketEndpoint.TryParse(text, out var path, out var error));
        Assert.Equal("", path);
        Assert.Contains("unix:///path", error, StringComparison.Ordinal);
        Assert.Contains($"'{text}'", error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => UnixSocketEndpoint.Parse(text!));
    }

    [Fact]
    public void A_path_longer_than_a_sockaddr_un_holds_fails_naming_the_limit()
    {
        Assert.False(UnixSocketEndpoint.TryParse("unix:///" + new string('a', 107), out _, out var error));
        Assert.Contains("107 bytes", error, StringComparison.Ordinal);
        Assert.Contains("unix:///path", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Link_endpoints_use_the_same_parser()
    {
        Assert.False(LinkEndpoint.TryParse("unix:///", out _, out var linkError));
        Assert.False(UnixSocketEndpoint.TryParse("unix:///", out _, out var unixError));
        Assert.Equal(unixError, linkError);
        Assert.Equal("/run/x.sock", LinkEndpoint.Parse("unix:///run/x.sock").Path);
    }
}
