using Akka.Configuration;
using RdNet.Actors.Infrastructure;

namespace RdNet.Actors.Tests.Infrastructure;

public sealed class RdNetSettingsTests
{
    private static Config Shipped()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RdNet.sln"))) dir = dir.Parent;
        return ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(dir!.FullName, "hocon", "rdnet.hocon")));
    }

    [Fact]
    public void The_shipped_hocon_reads_whole_and_writes_idle_links_inline_after_50_microseconds()
    {
        var s = RdNetSettings.FromConfig(Shipped());
        Assert.Equal(TimeSpan.FromMicroseconds(50), s.Link.InlineWriteIdle);
        Assert.Equal(1024, s.Link.SendQueueFrames);
    }

    [Fact]
    public void Inline_writes_can_be_turned_off()
    {
        var config = ConfigurationFactory.ParseString("rdnet.link.inline-write-idle-us = 0").WithFallback(Shipped());
        Assert.Equal(TimeSpan.Zero, RdNetSettings.FromConfig(config).Link.InlineWriteIdle);
    }
}
