using System.CommandLine;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using RdNet.Cli.Api;

namespace RdNet.Cli.Commands;

/// <summary>
/// <c>rdnet forward list|expose|unexpose</c>: a client of host-switch's host-side API (<c>--api</c>). Prints a table
/// (or the server's JSON with <c>--json</c>); a refusal is printed with its HTTP status and the server's message and
/// exits 1; an unreachable endpoint exits 2.
/// </summary>
internal static class ForwardCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record Row(string Local, string Remote, string Protocol);

    public static Command Create()
    {
        var api = CommonFlags.Validated(new Option<string>("--api")
        {
            Description = $"host-switch's host-side API endpoint (unix:///path or npipe:////./pipe/name). Default {HostApiClient.DefaultEndpoint}.",
            DefaultValueFactory = _ => HostApiClient.DefaultEndpoint,
            Recursive = true,
        }, HostApiClient.Validate);
        var json = new Option<bool>("--json") { Description = "Print the server's JSON instead of a table.", Recursive = true };
        var protocol = new Option<string>("--protocol", "-p") { Description = "tcp (default), udp or unix.", DefaultValueFactory = _ => "tcp" };

        var list = new Command("list", "List the forwards (GET /services/forwarder/all).");
        list.SetAction((p, ct) => Run(p.GetValue(api)!, async http =>
        {
            using var r = await http.GetAsync("services/forwarder/all", ct).ConfigureAwait(false);
            var body = await r.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!r.IsSuccessStatusCode) return Refused(r, body);
            if (p.GetValue(json))
            {
                Console.Write(body);
                return 0;
            }
            var rows = JsonSerializer.Deserialize<List<Row>>(body, Json) ?? [];
            PrintTable(rows);
            return 0;
        }));

        var local = new Argument<string>("local") { Description = "Host side: IP:PORT, :PORT, [IPv6]:PORT, or a socket path for unix." };
        var remote = new Argument<string>("remote") { Description = "Guest side: IPv4:PORT (tcp, udp) or tcp://IPv4:PORT (unix)." };
        var expose = new Command("expose", "Listen on the host and forward into the guest (POST /services/forwarder/expose).") { local, remote, protocol };
        expose.SetAction((p, ct) => Run(p.GetValue(api)!, http => Post(http, "services/forwarder/expose",
            new Dictionary<string, string> { ["local"] = p.GetValue(local)!, ["remote"] = p.GetValue(remote)!, ["protocol"] = p.GetValue(protocol)! },
            p.GetValue(json), $"exposed {p.GetValue(protocol)}/{p.GetValue(local)} -> {p.GetValue(remote)}", ct)));

        var unLocal = new Argument<string>("local") { Description = "The local address exactly as exposed." };
        var unexpose = new Command("unexpose", "Stop a forward (POST /services/forwarder/unexpose).") { unLocal, protocol };
        unexpose.SetAction((p, ct) => Run(p.GetValue(api)!, http => Post(http, "services/forwarder/unexpose",
            new Dictionary<string, string> { ["local"] = p.GetValue(unLocal)!, ["protocol"] = p.GetValue(protocol)! },
            p.GetValue(json), $"unexposed {p.GetValue(protocol)}/{p.GetValue(unLocal)}", ct)));

        return new Command("forward", "Port forwards of a running host-switch, through its host-side API (--api).") { api, json, list, expose, unexpose };
    }

    private static async Task<int> Post(HttpClient http, string path, Dictionary<string, string> body, bool json, string done, CancellationToken ct)
    {
        using var content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var r = await http.PostAsync(path, content, ct).ConfigureAwait(false);
        var text = await r.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!r.IsSuccessStatusCode) return Refused(r, text);
        Console.WriteLine(json ? "{\"ok\":true}" : done);
        return 0;
    }

    private static int Refused(HttpResponseMessage r, string body)
    {
        Console.Error.WriteLine($"error: {(int)r.StatusCode} {r.ReasonPhrase}: {body.TrimEnd()}");
        return 1;
    }

    private static async Task<int> Run(string endpoint, Func<HttpClient, Task<int>> call)
    {
        using var http = HostApiClient.Create(endpoint, TimeSpan.FromSeconds(15));
        try
        {
            return await call(http).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"error: cannot reach host-switch's API at {endpoint}: {e.InnerException?.Message ?? e.Message} (is host-switch running with --api {endpoint}?)");
            return 2;
        }
        catch (TaskCanceledException)
        {
            Console.Error.WriteLine($"error: no answer from host-switch's API at {endpoint} within 15 s");
            return 2;
        }
    }

    private static void PrintTable(IReadOnlyList<Row> rows)
    {
        if (rows.Count == 0)
        {
            Console.WriteLine("no forwards");
            return;
        }
        string[] head = ["PROTOCOL", "LOCAL", "REMOTE"];
        var cells = rows.Select(r => new[] { r.Protocol, r.Local, r.Remote }).ToList();
        var widths = Enumerable.Range(0, 3).Select(i => Math.Max(head[i].Length, cells.Max(c => c[i].Length))).ToArray();
        Console.WriteLine(string.Join("  ", head.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var c in cells) Console.WriteLine(string.Join("  ", c.Select((v, i) => v.PadRight(widths[i]))).TrimEnd());
    }
}
