using RdNet.Actors.Tcp;

namespace RdNet.Actors.Tests.Tcp;

public sealed class TcpNatSettingsTests
{
    [Fact]
    public void At_MTU_1500_the_rings_are_the_configured_size()
    {
        var engine = TcpNatSettings.Default.Engine(1500);
        Assert.Equal(1460, engine.Mss);
        Assert.Equal(256 * 1024, engine.SendBufferSize);
        Assert.Equal(256 * 1024, engine.ReceiveBufferSize);
    }

    [Fact]
    public void At_MTU_65520_each_ring_holds_at_least_min_buffer_segments_full_segments()
    {
        var engine = TcpNatSettings.Default.Engine(65520);
        Assert.Equal(65480, engine.Mss);
        Assert.Equal(16 * 65480, engine.SendBufferSize);
        Assert.Equal(16 * 65480, engine.ReceiveBufferSize);
    }
}
