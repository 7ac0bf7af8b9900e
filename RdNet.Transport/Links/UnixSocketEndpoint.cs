namespace RdNet.Transport.Links;

/// <summary>
/// <c>unix:///path</c> endpoints: the one parser for every place that takes one (stream links through
/// <see cref="LinkEndpoint"/>, the host-side API's server, its clients). The path must be absolute and fit a
/// <c>sockaddr_un</c> (107 bytes and the terminating NUL).
/// </summary>
public static class UnixSocketEndpoint
{
    public const string Scheme = "unix://";

    public const string ExpectedFormat = "unix:///path/to/socket";

    /// <summary>Longest path a <c>sockaddr_un</c> holds (108 bytes with the terminating NUL).</summary>
    public const int MaxPathBytes = 107;

    /// <summary>True when <paramref name="text"/> is written in the unix scheme (valid or not): route it to <see cref="TryParse"/>.</summary>
    public static bool HasScheme(string? text) => text is not null && text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>The socket path of <c>unix:///path</c>; false with an error naming the expected form otherwise.</summary>
    public static bool TryParse(string? text, out string path, out string? error)
    {
        path = "";
        error = null;
        if (!HasScheme(text))
        {
            error = $"'{text}' is not a unix socket endpoint; expected {ExpectedFormat}";
            return false;
        }
        var rest = text![Scheme.Length..];
        if (rest.Length < 2 || rest[0] != '/')
        {
            error = $"'{text}': a unix endpoint needs an absolute path; expected {ExpectedFormat}";
            return false;
        }
        if (rest.Contains('\0'))
        {
            error = $"'{text}': a unix socket path cannot contain a NUL byte; expected {ExpectedFormat}";
            return false;
        }
        if (System.Text.Encoding.UTF8.GetByteCount(rest) > MaxPathBytes)
        {
            error = $"'{text}': unix socket paths are limited to {MaxPathBytes} bytes; expected {ExpectedFormat}";
            return false;
        }
        path = rest;
        return true;
    }

    /// <summary>As <see cref="TryParse"/>; throws <see cref="FormatException"/> with the error.</summary>
    public static string Parse(string text) => TryParse(text, out var path, out var error) ? path : throw new FormatException(error);
}
