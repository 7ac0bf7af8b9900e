using System.Net;
using System.Net.Sockets;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// Urgent data from a real guest kernel (RELIABILITY row 10): send(MSG_OOB) makes Linux set URG with an urgent pointer
/// on the segments up to the urgent byte, pointing past their data when the urgent send spans several segments. The
/// gateway delivers urgent data in line, so the host server (which does not read out-of-band data) gets every byte in
/// order and the connection goes on.
/// </summary>
public sealed class NamespaceTcpUrgentTests(TcpSandbox fx) : IClassFixture<TcpSandbox>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Urgent_data_from_the_guest_reaches_the_host_in_line_and_the_stream_goes_on()
    {
        using var listener = fx.HostListener();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var big = new byte[20_000]; // an urgent send over ~14 segments at MSS 1460
        new Random(5).NextBytes(big);
        byte[] expected = [.. "abc"u8, .. "U"u8, .. "def"u8, .. big, .. "end"u8];

        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            var ms = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = await c.ReceiveAsync(buf, SocketFlags.None)) > 0) ms.Write(buf, 0, n);
            await c.SendAsync("ok"u8.ToArray(), SocketFlags.None);
            c.Shutdown(SocketShutdown.Send);
            return ms.ToArray();
        });

        using var guest = fx.GuestSocket();
        guest.NoDelay = true;
        await guest.ConnectAsync(TcpSandbox.HostAlias, port).WaitAsync(Wait);
        await guest.SendAsync("abc"u8.ToArray(), SocketFlags.None);
        await guest.SendAsync("U"u8.ToArray(), SocketFlags.OutOfBand);
        await guest.SendAsync("def"u8.ToArray(), SocketFlags.None);
        await guest.SendAsync(big, SocketFlags.OutOfBand);
        await guest.SendAsync("end"u8.ToArray(), SocketFlags.None);
        guest.Shutdown(SocketShutdown.Send);

        var got = await server.WaitAsync(Wait);
        Assert.Equal(expected.Length, got.Length);
        Assert.Equal(expected, got);
        var reply = new byte[8];
        int r = await guest.ReceiveAsync(reply, SocketFlags.None).WaitAsync(Wait);
        Assert.Equal("ok"u8.ToArray(), reply[..r]);
    }
}
