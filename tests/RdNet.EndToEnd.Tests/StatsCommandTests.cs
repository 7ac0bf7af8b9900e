using System.Net.Sockets;
using System.Text;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// The <c>rdnet stats</c> client against a stand-in for host-switch's API on a unix socket (the server side, GET /stats in
/// host-switch, arrives with the forwarder API): the real executable, its HTTP over a unix socket, JSON and errors.
/// </summary>
public sealed class StatsCommandTests : IDisposable
{
    private const string Snapshot = """{"takenAt":"2026-11-28T18:10:00+00:00","partial":false,"missing":[],"ports":[{"id":2,"name":"vm","framesIn":5,"framesOut":6,"bytesIn":700,"bytesOut":800,"drops":0}],"drops":{"UnknownUnicast":1},"flows":[{"protocol":"tcp","active":1,"total":3}],"dns":null,"dhcpLeases":1,"forwards":0}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("rdne-stats-").FullName;
    private readonly CancellationTokenSource _cts = new();

    private string Serve(int status, string body)
    {
        var path = Path.Combine(_dir, "api.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        _ = Task.Run(async () =>
        {
            using (listener)
            {
                while (!_cts.IsCancellationRequested)
                {
                    using var c = await listener.AcceptAsync(_cts.Token);
                    var request = new StringBuilder();
                    var buffer = new byte[4096];
                    while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await c.ReceiveAsync(buffer, SocketFlags.None, _cts.Token);
                        if (n == 0) break;
                        request.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }
                    var ok = request.ToString().StartsWith("GET /stats HTTP/1.1", StringComparison.Ordinal);
                    var (code, text) = ok ? (status, body) : (404, "not found");
                    var bytes = Encoding.UTF8.GetBytes(text);
                    await c.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n").Concat(bytes).ToArray(), SocketFlags.None, _cts.Token);
                }
            }
        });
        return "unix://" + path;
    }

    [Fact]
    public void Stats_prints_tables_and_with_json_the_raw_document()
    {
        var api = Serve(200, Snapshot);
        var r = Harness.Run(Harness.RdnetPath, ["stats", "--api", api]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("host-switch stats at 2026-11-28 18:10:00Z", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("vm  ", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("tcp         1      3", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("UnknownUnicast", r.Stdout, StringComparison.Ordinal);

        var j = Harness.Run(Harness.RdnetPath, ["stats", "--api", api, "--json"]);
        Assert.True(j.ExitCode == 0, j.ToString());
        Assert.Equal(Snapshot + "\n", j.Stdout);
    }

    [Fact]
    public void Stats_fails_clearly_when_the_api_is_not_there_or_answers_an_error()
    {
        var missing = Harness.Run(Harness.RdnetPath, ["stats", "--api", $"unix://{_dir}/nothing.sock"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("cannot reach host-switch's API", missing.Stderr, StringComparison.Ordinal);

        var api = Serve(503, "busy");
        var error = Harness.Run(Harness.RdnetPath, ["stats", "--api", api]);
        Assert.Equal(1, error.ExitCode);
        Assert.Contains("503", error.Stderr, StringComparison.Ordinal);

        var bad = Harness.Run(Harness.RdnetPath, ["stats", "--api", "http://x"]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("expected unix:///path/to/socket", bad.Stderr + bad.Stdout, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _cts.Cancel();
        _cts.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
