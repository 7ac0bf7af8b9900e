using System.Net.Sockets;
using System.Text;
using RdNet.Transport.WslProxy;

namespace RdNet.Transport.Tests.WslProxy;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlSocketTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnt-wsl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static Socket Connect(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        return s;
    }

    [Fact]
    public void The_socket_file_is_created_owner_only()
    {
        var path = PathOf("p.sock");
        using var s = ControlSocket.Bind(path, 4);
        Assert.Equal(ControlSocket.Mode, File.GetUnixFileMode(path));
        using var c = Connect(path);
    }

    [Fact]
    public void A_stale_socket_file_is_replaced()
    {
        // .NET unlinks the socket file on Dispose; a crashed process leaves it behind. A second name for the
        // same inode stands in for that leftover.
        var path = PathOf("stale.sock");
        using (ControlSocket.Bind(PathOf("orig.sock"), 4))
        {
            using var ln = System.Diagnostics.Process.Start("ln", [PathOf("orig.sock"), path]);
            ln.WaitForExit();
        }
        Assert.True(File.Exists(path));
        using var s = ControlSocket.Bind(path, 4);
        using var c = Connect(path);
    }

    [Fact]
    public void A_socket_another_process_still_serves_is_not_taken_over()
    {
        var path = PathOf("live.sock");
        using var live = ControlSocket.Bind(path, 4);
        var e = Assert.Throws<IOException>(() => ControlSocket.Bind(path, 4));
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
        using var c = Connect(path);
    }

    [Fact]
    public void A_regular_file_in_the_way_is_never_deleted()
    {
        var path = PathOf("file.sock");
        File.WriteAllText(path, "precious");
        var e = Assert.Throws<IOException>(() => ControlSocket.Bind(path, 4));
        Assert.Contains("not a socket", e.Message, StringComparison.Ordinal);
        Assert.Equal("precious", File.ReadAllText(path));
        ControlSocket.Remove(path);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_missing_directory_is_reported() =>
        Assert.Contains("does not exist", Assert.Throws<IOException>(() => ControlSocket.Bind(PathOf("no/such/dir.sock"), 4)).Message, StringComparison.Ordinal);

    private async Task<ControlRead> Exchange(Func<Socket, Task> client, int max = 1024, int timeoutMs = 2000)
    {
        var path = PathOf($"r{Guid.NewGuid():N}.sock"[..12]);
        using var listener = ControlSocket.Bind(path, 4);
        using var c = Connect(path);
        var accepted = await listener.AcceptAsync();
        var read = ControlDocumentReader.ReadAsync(accepted, max, TimeSpan.FromMilliseconds(timeoutMs));
        await client(c);
        return await read;
    }

    [Fact]
    public async Task A_document_followed_by_close_is_read_whole()
    {
        var r = await Exchange(async c =>
        {
            await c.SendAsync(Encoding.UTF8.GetBytes("{\"remove\":false}\n"));
            c.Shutdown(SocketShutdown.Send);
        });
        Assert.Null(r.Error);
        Assert.Equal("{\"remove\":false}", Encoding.UTF8.GetString(r.Document));
    }

    [Fact]
    public async Task A_document_in_pieces_without_close_ends_at_the_end_of_the_json_value()
    {
        var r = await Exchange(async c =>
        {
            await c.SendAsync(Encoding.UTF8.GetBytes("{\"ports\":{\"80\":"));
            await Task.Delay(50);
            await c.SendAsync(Encoding.UTF8.GetBytes("null}} and more"));
        });
        Assert.Null(r.Error);
        Assert.Equal("{\"ports\":{\"80\":null}}", Encoding.UTF8.GetString(r.Document));
    }

    [Fact]
    public async Task A_document_larger_than_the_limit_is_refused_without_reading_on()
    {
        var r = await Exchange(async c => await c.SendAsync(Encoding.UTF8.GetBytes("[" + new string(' ', 5000))), max: 1024);
        Assert.Contains("larger than 1024 bytes", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_client_times_out()
    {
        var r = await Exchange(async c => await c.SendAsync(Encoding.UTF8.GetBytes("{")), timeoutMs: 200);
        Assert.Contains("no complete mapping within", r.Error, StringComparison.Ordinal);
    }
}
