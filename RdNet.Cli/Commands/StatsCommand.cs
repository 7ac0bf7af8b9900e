using System.CommandLine;
using System.Text.Json;
using RdNet.Cli.Api;
using static RdNet.Actors.Observability.StatsProtocol;

namespace RdNet.Cli.Commands;

/// <summary><c>rdnet stats [--api URI] [--watch [SECONDS]] [--json]</c>: host-switch's <c>GET /stats</c> as tables.</summary>
internal static class StatsCommand
{
    private const double DefaultWatchSeconds = 2;

    public static Command Create()
    {
        var api = CommonFlags.Validated(new Option<string>("--api")
        {
            Description = $"host-switch's API endpoint (default {HostApiClient.DefaultEndpoint}, where rdnet up serves it): unix:///path or npipe:////./pipe/name.",
            DefaultValueFactory = _ => HostApiClient.DefaultEndpoint,
        }, HostApiClient.Validate);
        var watch = CommonFlags.Validated(new Option<double?>("--watch")
        {
            Description = $"Refresh every SECONDS (default {DefaultWatchSeconds}) until Ctrl-C.",
            Arity = ArgumentArity.ZeroOrOne,
        }, v => v is null or (>= 0.1 and <= 3600) ? null : $"invalid --watch {v}: expected seconds from 0.1 to 3600, e.g. --watch 2");
        var json = new Option<bool>("--json") { Description = "Print the raw JSON of GET /stats (for machines)." };
        var cmd = new Command("stats", "Show host-switch's counters: frames and bytes per port, drops by reason, flows by protocol, DNS queries and latency, forwards.")
        {
            api, watch, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var endpoint = parse.GetValue(api)!;
            var every = parse.GetResult(watch) is null ? (TimeSpan?)null : TimeSpan.FromSeconds(parse.GetValue(watch) ?? DefaultWatchSeconds);
            using var client = HostApiClient.Create(endpoint, TimeSpan.FromSeconds(10));
            while (true)
            {
                string body;
                try
                {
                    using var response = await client.GetAsync(new Uri("stats", UriKind.Relative), ct).ConfigureAwait(false);
                    body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                    {
                        await Console.Error.WriteLineAsync($"rdnet stats: GET /stats at {endpoint}: {(int)response.StatusCode} {response.ReasonPhrase}: {body.Trim()}").ConfigureAwait(false);
                        return 1;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or System.Net.Sockets.SocketException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
                {
                    await Console.Error.WriteLineAsync($"rdnet stats: cannot reach host-switch's API at {endpoint}: {e.GetBaseException().Message} (is rdnet up, or host-switch with --api, running?)").ConfigureAwait(false);
                    return 1;
                }
                string text;
                if (parse.GetValue(json))
                {
                    text = body.TrimEnd() + "\n";
                }
                else
                {
                    StatsSnapshot? snapshot;
                    try
                    {
                        snapshot = JsonSerializer.Deserialize<StatsSnapshot>(body, Json);
                    }
                    catch (JsonException e)
                    {
                        await Console.Error.WriteLineAsync($"rdnet stats: GET /stats at {endpoint} is not a stats snapshot: {e.Message}").ConfigureAwait(false);
                        return 1;
                    }
                    text = snapshot is null ? "(empty)\n" : StatsRenderer.Render(snapshot);
                }
                if (every is null)
                {
                    Console.Write(text);
                    return 0;
                }
                Console.Write("\u001b[H\u001b[2J" + text); // home + clear: a live view
                try
                {
                    await Task.Delay(every.Value, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return 0;
                }
            }
        });
        return cmd;
    }
}
