using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Microsoft.AspNetCore.Http;
using RdNet.Actors.Observability;
using RdNet.Transport.Forwarding;
using RdNet.Transport.Wire;
using static RdNet.Actors.Forwarding.ForwarderProtocol;

namespace RdNet.Actors.Forwarding.Api;

/// <summary>
/// The forwarder's HTTP API (spec §5.8/§5.9), served by Kestrel: exactly <c>/services/forwarder/all</c>,
/// <c>/services/forwarder/expose</c> and <c>/services/forwarder/unexpose</c> (plus <c>/stats</c> on the host-side
/// endpoint); everything else is 404 "404 page not found". Errors are plain text ending in a newline, as Go's
/// <c>http.Error</c> writes them; success of expose/unexpose is 200 with an empty body; <c>/all</c> is a JSON array and
/// a newline. The forwarder is asked (Ask is at this edge only) with rdnet.forwarding.api-request-timeout.
/// </summary>
public sealed class ForwarderApi
{
    private static readonly JsonSerializerOptions RequestJson = new() { PropertyNameCaseInsensitive = true };
    private static readonly JsonSerializerOptions ResponseJson = new(JsonSerializerDefaults.Web);

    private readonly IActorRef _forwarder;
    private readonly IActorRef? _stats;
    private readonly bool _guestSide;
    private readonly ForwardingSettings _settings;

    /// <param name="forwarder">Receives the <see cref="IForwarderCommand"/>s (the forwarder, or host-switch which passes them on).</param>
    /// <param name="stats">Answers <see cref="StatsProtocol.GetSnapshot"/> (host-switch); null: no <c>/stats</c> route.</param>
    /// <param name="guestSide">In-guest API: the client's address is the caller an empty remote host means.</param>
    public ForwarderApi(IActorRef forwarder, IActorRef? stats, bool guestSide, ForwardingSettings settings)
    {
        _forwarder = forwarder;
        _stats = stats;
        _guestSide = guestSide;
        _settings = settings;
    }

    private sealed record ExposeBody(string? Local, string? Remote, string? Protocol);

    private sealed record UnexposeBody(string? Local, string? Protocol);

    public async Task HandleAsync(HttpContext ctx)
    {
        switch (ctx.Request.Path.Value)
        {
            case "/services/forwarder/all":
                var list = await AskAsync<ForwardList>(List.Instance, ctx).ConfigureAwait(false);
                if (list is null) return;
                ctx.Response.StatusCode = StatusCodes.Status200OK;
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(JsonSerializer.Serialize(list.Forwards, ResponseJson) + "\n", ctx.RequestAborted).ConfigureAwait(false);
                return;
            case "/services/forwarder/expose":
                if (!await PostOnly(ctx).ConfigureAwait(false)) return;
                var e = await ReadBody<ExposeBody>(ctx).ConfigureAwait(false);
                if (e is null) return;
                await Command(ctx, new Expose(e.Local, e.Remote, e.Protocol, _guestSide ? Caller(ctx) : null, FromGuest: _guestSide)).ConfigureAwait(false);
                return;
            case "/services/forwarder/unexpose":
                if (!await PostOnly(ctx).ConfigureAwait(false)) return;
                var u = await ReadBody<UnexposeBody>(ctx).ConfigureAwait(false);
                if (u is null) return;
                await Command(ctx, new Unexpose(u.Local, u.Protocol)).ConfigureAwait(false);
                return;
            case "/stats" when _stats is not null:
                await Stats(ctx, _stats).ConfigureAwait(false);
                return;
            default:
                await Error(ctx, StatusCodes.Status404NotFound, "404 page not found").ConfigureAwait(false);
                return;
        }
    }

    private static Ipv4Address? Caller(HttpContext ctx)
    {
        var ip = ctx.Connection.RemoteIpAddress;
        if (ip is null) return null;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        return ip.AddressFamily == AddressFamily.InterNetwork ? Ipv4Address.FromIPAddress(ip) : null;
    }

    private static async Task<bool> PostOnly(HttpContext ctx)
    {
        if (HttpMethods.IsPost(ctx.Request.Method)) return true;
        await Error(ctx, StatusCodes.Status400BadRequest, "post only").ConfigureAwait(false);
        return false;
    }

    private async Task<T?> ReadBody<T>(HttpContext ctx) where T : class
    {
        string text;
        try
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            var buffer = new char[_settings.ApiMaxRequestBytes + 1];
            var n = 0;
            int read;
            while (n < buffer.Length && (read = await reader.ReadAsync(buffer.AsMemory(n), ctx.RequestAborted).ConfigureAwait(false)) > 0) n += read;
            if (n > _settings.ApiMaxRequestBytes)
            {
                await Error(ctx, StatusCodes.Status400BadRequest, $"request body larger than {_settings.ApiMaxRequestBytes} bytes").ConfigureAwait(false);
                return null;
            }
            text = new string(buffer, 0, n);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
        {
            await Error(ctx, StatusCodes.Status400BadRequest, ex.Message).ConfigureAwait(false);
            return null;
        }
        try
        {
            var value = JsonSerializer.Deserialize<T>(text, RequestJson);
            if (value is null)
            {
                await Error(ctx, StatusCodes.Status400BadRequest, "the request body is JSON null: expected an object").ConfigureAwait(false);
                return null;
            }
            return value;
        }
        catch (JsonException ex)
        {
            await Error(ctx, StatusCodes.Status400BadRequest, ex.Message).ConfigureAwait(false);
            return null;
        }
    }

    private async Task Command(HttpContext ctx, IForwarderCommand command)
    {
        var answer = await AskAsync<object>(command, ctx).ConfigureAwait(false);
        switch (answer)
        {
            case null:
                return;
            case Done:
                ctx.Response.StatusCode = StatusCodes.Status200OK;
                return;
            case Refused r:
                await Error(ctx, r.Error.Kind == ForwardErrorKind.BadRequest ? StatusCodes.Status400BadRequest : StatusCodes.Status500InternalServerError,
                    r.Error.Message).ConfigureAwait(false);
                return;
            default:
                await Error(ctx, StatusCodes.Status500InternalServerError, $"unexpected answer {answer.GetType().Name}").ConfigureAwait(false);
                return;
        }
    }

    private async Task<T?> AskAsync<T>(object message, HttpContext ctx) where T : class
    {
        try
        {
            return await _forwarder.Ask<T>(message, _settings.ApiRequestTimeout, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException or OperationCanceledException)
        {
            await Error(ctx, StatusCodes.Status503ServiceUnavailable, "forwarder unavailable").ConfigureAwait(false);
            return null;
        }
    }

    private async Task Stats(HttpContext ctx, IActorRef stats)
    {
        StatsProtocol.StatsSnapshot snapshot;
        try
        {
            snapshot = await stats.Ask<StatsProtocol.StatsSnapshot>(StatsProtocol.GetSnapshot.Instance, _settings.StatsTimeout, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException or OperationCanceledException)
        {
            await Error(ctx, StatusCodes.Status503ServiceUnavailable, "stats unavailable").ConfigureAwait(false);
            return;
        }
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(snapshot, ResponseJson) + "\n", ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>As Go's http.Error: the status, text/plain, the message and a newline.</summary>
    private static Task Error(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
        return ctx.Response.WriteAsync(message + "\n", ctx.RequestAborted);
    }
}
