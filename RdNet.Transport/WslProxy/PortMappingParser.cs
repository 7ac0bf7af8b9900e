using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace RdNet.Transport.WslProxy;

/// <summary>Where the first JSON value of a control connection ends (Go's json.Decoder reads one value and ignores the rest).</summary>
public enum JsonValueBoundary
{
    /// <summary>More bytes are needed to finish the first value.</summary>
    Incomplete,

    /// <summary>The first value is complete; its length is returned.</summary>
    Complete,

    /// <summary>The bytes cannot start or continue a JSON value.</summary>
    Malformed,
}

/// <summary>
/// Validation of the PortMapping document the guest agent sends to wsl-proxy (spec §6.2). Field names match
/// case-insensitively and unknown fields are ignored, as Go's encoding/json (the guest agent's and the original's
/// decoder) does, so a newer agent's extra fields never cost the user their ports; the known fields are strict:
/// <c>{"remove": bool, "ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}, "connectAddrs": null}</c>.
/// A document that is not that shape is refused as a whole with a reason; inside a valid document, each port
/// entry or binding that is wrong (unknown protocol, bad port, bad address) is refused on its own, with a reason,
/// and the others apply.
/// </summary>
public static class PortMappingParser
{
    private const int MaxDepth = 8;

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
        MaxDepth = MaxDepth,
    };

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
        MaxDepth = MaxDepth,
    };

    /// <summary>Finds the end of the first JSON value in <paramref name="data"/> (leading whitespace allowed).</summary>
    public static JsonValueBoundary FindFirstValue(ReadOnlySpan<byte> data, bool endOfInput, out int length)
    {
        length = 0;
        var reader = new Utf8JsonReader(data, endOfInput, new JsonReaderState(ReaderOptions));
        try
        {
            if (!reader.Read()) return endOfInput ? JsonValueBoundary.Malformed : JsonValueBoundary.Incomplete;
            if (!reader.TrySkip()) return JsonValueBoundary.Incomplete;
            length = checked((int)reader.BytesConsumed);
            return JsonValueBoundary.Complete;
        }
        catch (JsonException)
        {
            return JsonValueBoundary.Malformed;
        }
    }

    /// <summary>Parses one document. Returns false with <paramref name="error"/> when the document as a whole is refused.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, int maxListeners, out PortMapping mapping, out string error)
    {
        mapping = new PortMapping(false, [], []);
        error = "";
        if (utf8.IsEmpty)
        {
            error = "empty document: expected one JSON object like {\"remove\":false,\"ports\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8080\"}]}}";
            return false;
        }
        if (FindFirstValue(utf8, endOfInput: true, out var length) != JsonValueBoundary.Complete)
        {
            error = "malformed JSON: " + DescribeJsonError(utf8);
            return false;
        }
        using var doc = ParseDocument(utf8[..length], out var parseError);
        if (doc is null)
        {
            error = "malformed JSON: " + parseError;
            return false;
        }
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = $"the document is a JSON {Kind(root)}; expected an object with \"remove\", \"ports\" and \"connectAddrs\"";
            return false;
        }

        bool remove = false;
        JsonElement? ports = null;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in root.EnumerateObject())
        {
            if (!seen.Add(p.Name))
            {
                error = $"field \"{p.Name}\" appears twice";
                return false;
            }
            switch (p.Name.ToLowerInvariant())
            {
                case "remove":
                    if (p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    {
                        error = $"\"remove\" is a JSON {Kind(p.Value)}; expected true or false";
                        return false;
                    }
                    remove = p.Value.GetBoolean();
                    break;
                case "ports":
                    if (p.Value.ValueKind == JsonValueKind.Null) break;
                    if (p.Value.ValueKind != JsonValueKind.Object)
                    {
                        error = $"\"ports\" is a JSON {Kind(p.Value)}; expected an object like {{\"8080/tcp\":[{{\"HostIp\":\"\",\"HostPort\":\"8080\"}}]}}";
                        return false;
                    }
                    ports = p.Value;
                    break;
                case "connectaddrs":
                    // Ignored by wsl-proxy (spec §6.2), but it still has to have its documented shape.
                    if (CheckConnectAddrs(p.Value) is { } bad)
                    {
                        error = bad;
                        return false;
                    }
                    break;
                default:
                    break; // unknown fields are ignored, as encoding/json does
            }
        }

        var listeners = new List<ListenerKey>();
        var rejected = new List<string>();
        if (ports is { } portMap)
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in portMap.EnumerateObject())
            {
                if (!keys.Add(entry.Name))
                {
                    error = $"port \"{entry.Name}\" appears twice";
                    return false;
                }
                if (!TryParsePortKey(entry.Name, out var protocol, out var keyError))
                {
                    rejected.Add(keyError);
                    continue;
                }
                if (entry.Value.ValueKind == JsonValueKind.Null) continue;
                if (entry.Value.ValueKind != JsonValueKind.Array)
                {
                    rejected.Add($"\"{entry.Name}\": bindings are a JSON {Kind(entry.Value)}; expected an array of {{\"HostIp\",\"HostPort\"}}");
                    continue;
                }
                var index = 0;
                foreach (var binding in entry.Value.EnumerateArray())
                {
                    if (TryParseBinding(binding, protocol, out var key, out var bindingError))
                    {
                        if (!listeners.Contains(key)) listeners.Add(key);
                    }
                    else
                    {
                        rejected.Add($"\"{entry.Name}\" binding {index}: {bindingError}");
                    }
                    index++;
                }
            }
        }
        if (listeners.Count > maxListeners)
        {
            error = $"the document names {listeners.Count} listeners; at most {maxListeners} are allowed (rdnet.wsl-proxy.max-listeners)";
            return false;
        }
        mapping = new PortMapping(remove, listeners, rejected);
        return true;
    }

    /// <summary>"8080/tcp", "53/udp" or "8080" (no protocol means tcp); the protocol is compared lower-cased (spec §6.3).</summary>
    public static bool TryParsePortKey(string key, out ProxyProtocol protocol, out string error)
    {
        protocol = ProxyProtocol.Tcp;
        error = "";
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var portText = slash < 0 ? key : key[..slash];
        if (!TryParsePort(portText, out _))
        {
            error = $"\"{key}\": port \"{portText}\" is not a number 1-65535; expected a key like \"8080/tcp\"";
            return false;
        }
        if (slash < 0) return true;
        var proto = key[(slash + 1)..].ToLowerInvariant();
        switch (proto)
        {
            case "tcp":
                protocol = ProxyProtocol.Tcp;
                return true;
            case "udp":
                protocol = ProxyProtocol.Udp;
                return true;
            default:
                error = $"\"{key}\": unknown protocol \"{key[(slash + 1)..]}\"; expected tcp or udp";
                return false;
        }
    }

    /// <summary>A decimal port 1-65535: digits only, no sign, no spaces (Docker sends HostPort as a string).</summary>
    public static bool TryParsePort(string text, out int port)
    {
        port = 0;
        if (text.Length is 0 or > 5) return false;
        foreach (var c in text)
            if (c is < '0' or > '9') return false;
        port = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return port is >= 1 and <= 65535;
    }

    /// <summary>
    /// HostIp: "" / "0.0.0.0" / "::" mean every address (null); otherwise an IPv4 dotted quad or an IPv6 literal
    /// (no zone, no host names: the agent always sends literals).
    /// </summary>
    public static bool TryParseHostIp(string text, out IPAddress? address, out string error)
    {
        address = null;
        error = "";
        if (text is "" or "0.0.0.0" or "::") return true;
        if (text.Contains(':', StringComparison.Ordinal))
        {
            if (!text.Contains('%', StringComparison.Ordinal) && IPAddress.TryParse(text, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
            {
                address = v6.IsIPv4MappedToIPv6 ? v6.MapToIPv4() : v6;
                if (address.Equals(IPAddress.Any)) address = null;
                return true;
            }
        }
        else if (text.Count(c => c == '.') == 3 && text.All(c => c == '.' || c is >= '0' and <= '9')
                 && IPAddress.TryParse(text, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork)
        {
            address = v4;
            return true;
        }
        error = $"HostIp \"{text}\" is not an IP address; expected \"\", 0.0.0.0, 127.0.0.1 or an IPv6 literal like ::1";
        return false;
    }

    private static bool TryParseBinding(JsonElement binding, ProxyProtocol protocol, out ListenerKey key, out string error)
    {
        key = null!;
        error = "";
        if (binding.ValueKind != JsonValueKind.Object)
        {
            error = $"a JSON {Kind(binding)}; expected {{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8080\"}}";
            return false;
        }
        string? hostIp = null, hostPort = null;
        foreach (var f in binding.EnumerateObject())
        {
            switch (f.Name.ToLowerInvariant())
            {
                case "hostip" when hostIp is null && f.Value.ValueKind == JsonValueKind.String:
                    hostIp = f.Value.GetString()!;
                    break;
                case "hostport" when hostPort is null && f.Value.ValueKind == JsonValueKind.String:
                    hostPort = f.Value.GetString()!;
                    break;
                case "hostip" or "hostport":
                    error = $"\"{f.Name}\" must appear once, as a JSON string";
                    return false;
                default:
                    break; // unknown fields are ignored, as encoding/json does
            }
        }
        if (hostPort is null)
        {
            error = "\"HostPort\" is missing";
            return false;
        }
        if (!TryParsePort(hostPort, out var port))
        {
            error = $"HostPort \"{hostPort}\" is not a number 1-65535";
            return false;
        }
        if (!TryParseHostIp(hostIp ?? "", out var address, out error)) return false;
        key = new ListenerKey(protocol, address, port);
        return true;
    }

    private static string? CheckConnectAddrs(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Array)
            return $"\"connectAddrs\" is a JSON {Kind(value)}; expected null or an array of {{\"network\",\"addr\"}}";
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
                return $"\"connectAddrs\" holds a JSON {Kind(item)}; expected objects {{\"network\":\"tcp\",\"addr\":\"...\"}}";
            foreach (var f in item.EnumerateObject())
            {
                if (f.Name.ToLowerInvariant() is "network" or "addr" && f.Value.ValueKind != JsonValueKind.String)
                    return $"\"connectAddrs\" entry field \"{f.Name}\" is a JSON {Kind(f.Value)}; expected string fields \"network\" and \"addr\"";
            }
        }
        return null;
    }

    private static JsonDocument? ParseDocument(ReadOnlySpan<byte> utf8, out string error)
    {
        error = "";
        try
        {
            return JsonDocument.Parse(utf8.ToArray(), DocumentOptions);
        }
        catch (JsonException e)
        {
            error = e.Message;
            return null;
        }
    }

    private static string DescribeJsonError(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, isFinalBlock: true, new JsonReaderState(ReaderOptions));
        try
        {
            if (!reader.Read()) return "no JSON value in the document";
            reader.Skip();
            return "the document ended before the JSON value was complete";
        }
        catch (JsonException e)
        {
            return e.Message;
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };
}
