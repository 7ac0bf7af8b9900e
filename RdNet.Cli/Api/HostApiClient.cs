using System.IO.Pipes;
using System.Net.Http;
using System.Net.Sockets;
using RdNet.Transport.Links;

namespace RdNet.Cli.Api;

/// <summary>
/// An HTTP client for host-switch's host-side API (<c>--api</c>): a unix socket on Linux
/// (<c>unix:///path</c>), a named pipe on Windows (<c>npipe:////./pipe/name</c> or <c>npipe://name</c>).
/// Used by the <c>rdnet forward</c> and <c>rdnet stats</c> clients.
/// </summary>
public static class HostApiClient
{
    /// <summary>Where <c>rdnet up</c> serves the host-side API and where the clients look by default.</summary>
    public const string DefaultEndpoint = "unix:///run/rdnet/api.sock";

    /// <summary>Checks an <c>--api</c> value; null when valid, else the error naming the expected format.</summary>
    public static string? Validate(string endpoint)
    {
        if (UnixSocketEndpoint.HasScheme(endpoint))
            return UnixSocketEndpoint.TryParse(endpoint, out _, out var error) ? null : $"invalid API endpoint {error}";
        if (endpoint.StartsWith(NamedPipeEndpoint.Scheme, StringComparison.Ordinal) && endpoint.Length > NamedPipeEndpoint.Scheme.Length)
            return null;
        return $"invalid API endpoint '{endpoint}': expected {UnixSocketEndpoint.ExpectedFormat} or npipe:////./pipe/name";
    }

    /// <summary>An HttpClient whose every connection goes to <paramref name="endpoint"/>; requests use http://localhost/….</summary>
    public static HttpClient Create(string endpoint, TimeSpan timeout)
    {
        if (Validate(endpoint) is { } error)
            throw new ArgumentException(error, nameof(endpoint));
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = UnixSocketEndpoint.HasScheme(endpoint)
                ? (_, ct) => ConnectUnixAsync(UnixSocketEndpoint.Parse(endpoint), ct)
                : (_, ct) => ConnectPipeAsync(PipeName(endpoint), ct),
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = timeout };
    }

    private static async ValueTask<Stream> ConnectUnixAsync(string path, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async ValueTask<Stream> ConnectPipeAsync(string name, CancellationToken ct)
    {
        var pipe = new NamedPipeClientStream(".", name, PipeDirection.InOut, PipeOptions.Asynchronous);
        try
        {
            await pipe.ConnectAsync(ct).ConfigureAwait(false);
            return pipe;
        }
        catch
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The pipe name of <c>npipe:////./pipe/name</c> or <c>npipe://name</c>.</summary>
    public static string PipeName(string endpoint) => NamedPipeEndpoint.Name(endpoint);
}
