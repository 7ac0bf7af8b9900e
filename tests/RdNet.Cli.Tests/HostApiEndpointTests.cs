using RdNet.Actors.Forwarding;
using RdNet.Actors.Forwarding.Api;
using RdNet.Cli.Api;

namespace RdNet.Cli.Tests;

/// <summary>The host-side API's endpoint as the clients (rdnet forward/stats) and the server (--api) read it: one parser.</summary>
public sealed class HostApiEndpointTests
{
    [Theory]
    [InlineData("unix:///run/rdnet/api.sock")]
    [InlineData("npipe:////./pipe/rdnet-api")]
    public void Good_endpoints_are_accepted(string endpoint) => Assert.Null(HostApiClient.Validate(endpoint));

    [Theory]
    [InlineData("unix://api.sock")] // relative: would be bound in whatever the current directory is
    [InlineData("unix://")]
    [InlineData("unix:///")]
    [InlineData("tcp://127.0.0.1:80")]
    [InlineData("/run/rdnet/api.sock")]
    public void Bad_endpoints_are_refused_naming_the_expected_form(string endpoint)
    {
        var error = HostApiClient.Validate(endpoint);
        Assert.NotNull(error);
        Assert.Contains("unix:///path", error, StringComparison.Ordinal);
        Assert.Contains(endpoint, error, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => HostApiClient.Create(endpoint, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task The_server_refuses_a_relative_unix_path_before_binding_anything()
    {
        var dir = Directory.CreateTempSubdirectory("rdnet-api-");
        var cwd = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = dir.FullName;
            var api = new ForwarderApi(Akka.Actor.ActorRefs.Nobody, null, guestSide: false, ForwardingSettings.Default);
            var e = await Assert.ThrowsAsync<ArgumentException>(() => ApiServer.StartOnHostAsync("unix://api.sock", api, ForwardingSettings.Default));
            Assert.Contains("unix:///path", e.Message, StringComparison.Ordinal);
            Assert.Empty(dir.GetFiles());
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
            dir.Delete(recursive: true);
        }
    }
}
