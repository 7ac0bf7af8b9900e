namespace RdNet.Transport.Links;

/// <summary>Windows named-pipe endpoints of the host-side API: <c>npipe:////./pipe/name</c> or <c>npipe://name</c>.</summary>
public static class NamedPipeEndpoint
{
    public const string Scheme = "npipe://";

    /// <summary>The pipe name of <c>npipe:////./pipe/name</c> or <c>npipe://name</c>.</summary>
    public static string Name(string endpoint)
    {
        var rest = endpoint[Scheme.Length..].Replace('\\', '/');
        const string prefix = "//./pipe/";
        return rest.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? rest[prefix.Length..] : rest.TrimStart('/');
    }
}
