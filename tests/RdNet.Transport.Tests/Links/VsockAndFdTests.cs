using System.Net.Sockets;
using System.Runtime.InteropServices;
using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Links;

public partial class VsockAndFdTests
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    private const int F_DUPFD = 0;

    [Fact]
    public void A_vsock_endpoint_binds_and_listens_through_the_libc_socket_wrapper()
    {
        // Binding to CID_ANY works on this kernel even without a vsock peer (notes/dotnet-platform.md §3).
        var port = 40000 + Random.Shared.Next(0, 20000);
        using var listener = LinkEndpoint.Parse($"vsock://any:{port}").Listen();
        var local = Assert.IsType<VsockEndPoint>(listener.LocalEndPoint);
        Assert.Equal((uint)port, local.Port);
    }

    [Fact]
    public void The_vsock_sockaddr_has_the_kernel_layout()
    {
        var sa = new VsockEndPoint(2, 6656).Serialize();
        var b = sa.Buffer.Span;
        Assert.Equal(16, sa.Size);
        Assert.Equal([40, 0, 0, 0, 0x00, 0x1A, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0], b[..16].ToArray());
        var back = (VsockEndPoint)new VsockEndPoint(0, 0).Create(sa);
        Assert.Equal((2u, 6656u), (back.Cid, back.Port));
    }

    [Fact]
    public async Task An_inherited_descriptor_is_adopted_as_a_connected_stream()
    {
        var dir = Directory.CreateTempSubdirectory("rdnet-fd-").FullName;
        try
        {
            var ep = LinkEndpoint.Parse($"unix://{dir}/s.sock");
            using var listener = ep.Listen();
            using var client = await ep.ConnectAsync(CancellationToken.None);
            using var server = await listener.AcceptAsync();
            var fd = fcntl((int)client.Handle, F_DUPFD, 100);
            Assert.True(fd >= 100);
            using var adopted = await LinkEndpoint.Parse($"fd://{fd}").ConnectAsync(CancellationToken.None);
            await adopted.SendAsync(new byte[] { 1, 2, 3 });
            var buf = new byte[3];
            Assert.Equal(3, await server.ReceiveAsync(buf));
            Assert.Equal([1, 2, 3], buf);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task A_descriptor_that_was_not_inherited_fails_naming_it()
    {
        var e = await Assert.ThrowsAsync<IOException>(() => LinkEndpoint.Parse("fd://987").ConnectAsync(CancellationToken.None));
        Assert.Contains("fd://987", e.Message, StringComparison.Ordinal);
    }
}
