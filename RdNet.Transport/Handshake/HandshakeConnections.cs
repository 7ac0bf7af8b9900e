using System.Net.Sockets;
using RdNet.Transport.Links;

namespace RdNet.Transport.Handshake;

/// <summary>Why one handshake exchange failed, in words for the log.</summary>
public sealed class HandshakeException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The socket side of the handshake exchanges (spec §2.3): each is one short connection whose bytes are judged by
/// <see cref="SignatureMatcher"/> or <see cref="ReadyMatcher"/>. Deadlines come from the caller's token.
/// </summary>
public static class HandshakeConnections
{
    /// <summary>Host, step 1–2: connect, read a phrase (writing nothing), close. Returns which phrase the guest sent.</summary>
    public static async Task<SignatureKind> ProbeAsync(LinkEndpoint endpoint, CancellationToken ct)
    {
        Socket socket;
        try
        {
            socket = await endpoint.ConnectAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            throw new HandshakeException($"cannot connect to {endpoint}: {e.Message}", e);
        }
        using (socket)
        {
            var matcher = new SignatureMatcher();
            var buffer = new byte[HandshakeSignature.MaxPhraseLength];
            while (matcher.State == MatchState.NeedMore)
            {
                int n;
                try
                {
                    n = await socket.ReceiveAsync(buffer.AsMemory(0, matcher.Wanted), SocketFlags.None, ct).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    throw new HandshakeException($"reading the phrase from {endpoint} failed: {e.Message}", e);
                }
                if (n == 0) matcher.EndOfStream();
                else matcher.Feed(buffer.AsSpan(0, n));
            }
            if (matcher.State == MatchState.Matched) return matcher.Kind;
            throw new HandshakeException(matcher.Received.Length == 0
                ? $"{endpoint} closed without sending a phrase"
                : $"{endpoint} sent a wrong phrase: \"{HandshakeSignature.Describe(matcher.Received)}\"");
        }
    }

    /// <summary>
    /// Host, discovery (spec §2.2): probes every candidate at once; the first that answers with a phrase wins and the
    /// others are cancelled. Fails only when none answers, naming each one's failure.
    /// </summary>
    public static async Task<(VmCandidate Candidate, SignatureKind Kind)> ProbeFirstAsync(IReadOnlyList<VmCandidate> candidates, CancellationToken ct)
    {
        if (candidates.Count == 0) throw new HandshakeException("no VM to probe");
        if (candidates.Count == 1) return (candidates[0], await ProbeAsync(candidates[0].Handshake, ct).ConfigureAwait(false));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = candidates.Select(c => ProbeAsync(c.Handshake, cts.Token)).ToList();
        var pending = new List<Task<SignatureKind>>(tasks);
        var failures = new List<string>();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                return (candidates[tasks.IndexOf(done)], done.Result);
            }
            failures.Add($"{candidates[tasks.IndexOf(done)].Name}: {done.Exception?.GetBaseException().Message ?? "cancelled"}");
        }
        ct.ThrowIfCancellationRequested();
        throw new HandshakeException($"none of {candidates.Count} VMs answered: {string.Join("; ", failures)}");
    }

    /// <summary>
    /// Host, step 4: connect again and write READY. The guest writes its phrase first on this connection too; it is
    /// read and ignored so that closing never resets a connection with unread data (TCP would send RST).
    /// </summary>
    public static async Task SendReadyAsync(LinkEndpoint endpoint, CancellationToken ct)
    {
        Socket socket;
        try
        {
            socket = await endpoint.ConnectAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            throw new HandshakeException($"cannot connect to {endpoint} to write READY: {e.Message}", e);
        }
        using (socket)
        {
            try
            {
                var ready = HandshakeSignature.Ready.ToArray();
                var sent = 0;
                while (sent < ready.Length)
                    sent += await socket.SendAsync(ready.AsMemory(sent), SocketFlags.None, ct).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
                // Drain until the guest closes (it does right after reading READY); bounded by the caller's deadline.
                var sink = new byte[256];
                while (await socket.ReceiveAsync(sink, SocketFlags.None, ct).ConfigureAwait(false) > 0)
                {
                }
            }
            catch (SocketException e)
            {
                throw new HandshakeException($"writing READY to {endpoint} failed: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Guest: write the phrase to an accepted handshake connection, then read what follows (READY, or EOF for a probe).
    /// The socket is closed when this returns.
    /// </summary>
    public static async Task<(AnswerOutcome Outcome, string Detail)> AnswerAsync(Socket socket, SignatureKind phrase, CancellationToken ct)
    {
        using (socket)
        {
            var matcher = new ReadyMatcher();
            try
            {
                var bytes = HandshakeSignature.Phrase(phrase).ToArray();
                var sent = 0;
                while (sent < bytes.Length)
                    sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, ct).ConfigureAwait(false);
                var buffer = new byte[8];
                while (matcher.Outcome == AnswerOutcome.Pending)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory(0, matcher.Wanted), SocketFlags.None, ct).ConfigureAwait(false);
                    if (n == 0) matcher.EndOfStream();
                    else matcher.Feed(buffer.AsSpan(0, n));
                }
            }
            catch (SocketException e)
            {
                // A probe that closed while we were still writing is still just a probe.
                return matcher.Received.Length == 0 && e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown
                    ? (AnswerOutcome.Probe, "closed during the phrase")
                    : (AnswerOutcome.Garbage, e.Message);
            }
            return (matcher.Outcome, matcher.Outcome == AnswerOutcome.Garbage ? $"\"{HandshakeSignature.Describe(matcher.Received)}\"" : "");
        }
    }
}
