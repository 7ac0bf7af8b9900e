using System.Text;

namespace RdNet.Transport.Handshake;

/// <summary>Which of the two signature phrases a guest sends (spec §2.1).</summary>
public enum SignatureKind
{
    /// <summary>The merged project's phrase, 60 bytes: what current Rancher Desktop guests send.</summary>
    Current,

    /// <summary>The standalone rancher-desktop-networking phrase, 53 bytes.</summary>
    Original,
}

/// <summary>
/// The constants of the handshake between host-switch and network-setup (spec §2.1): the phrase network-setup writes
/// to every connection on the handshake port, and the <c>READY</c> the host writes once its data listener is up.
/// Nothing is terminated or length-prefixed; the host knows a phrase only by its bytes.
/// </summary>
public static class HandshakeSignature
{
    public const int HandshakePort = 6669;
    public const int DataPort = 6656;

    public static ReadOnlySpan<byte> CurrentPhrase => "github.com/rancher-sandbox/rancher-desktop/src/go/networking"u8;

    public static ReadOnlySpan<byte> OriginalPhrase => "github.com/rancher-sandbox/rancher-desktop-networking"u8;

    public static ReadOnlySpan<byte> Ready => "READY"u8;

    /// <summary>The longest phrase: a reader never needs more bytes than this to decide.</summary>
    public static int MaxPhraseLength => CurrentPhrase.Length;

    public static ReadOnlySpan<byte> Phrase(SignatureKind kind) => kind == SignatureKind.Original ? OriginalPhrase : CurrentPhrase;

    public static bool TryParseKind(string? text, out SignatureKind kind)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "current":
                kind = SignatureKind.Current;
                return true;
            case "original":
                kind = SignatureKind.Original;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    /// <summary>Printable form of received bytes for a log line (non-ASCII as \xNN, at most 80 bytes).</summary>
    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes[..Math.Min(bytes.Length, 80)])
            sb.Append(b is >= 0x20 and < 0x7f ? (char)b : $"\\x{b:x2}");
        if (bytes.Length > 80) sb.Append("...");
        return sb.ToString();
    }
}

public enum MatchState
{
    /// <summary>Everything so far is the beginning of a phrase; read more.</summary>
    NeedMore,

    /// <summary>A whole phrase was read.</summary>
    Matched,

    /// <summary>The bytes cannot be either phrase (or the peer closed before a whole phrase).</summary>
    Mismatch,
}

/// <summary>
/// The host's reader of a probe answer (spec §2.2 step 2). The two phrases part ways at byte 42 and neither is a prefix
/// of the other, so the reader accepts either without knowing in advance which peer it talks to: it consumes bytes
/// only while they are still a prefix of some phrase and stops at the first whole phrase. Sans-IO: bytes in, verdict out.
/// </summary>
public sealed class SignatureMatcher
{
    private readonly byte[] _received = new byte[HandshakeSignature.MaxPhraseLength];
    private int _length;

    public MatchState State { get; private set; } = MatchState.NeedMore;

    /// <summary>Which phrase matched (valid when <see cref="State"/> is Matched).</summary>
    public SignatureKind Kind { get; private set; }

    /// <summary>What has been received, for the log line of a mismatch.</summary>
    public ReadOnlySpan<byte> Received => _received.AsSpan(0, _length);

    /// <summary>How many of the next bytes the reader may take without reading past a phrase.</summary>
    public int Wanted => State == MatchState.NeedMore ? HandshakeSignature.MaxPhraseLength - _length : 0;

    /// <summary>Feeds received bytes; returns how many were consumed (bytes after a whole phrase are left alone).</summary>
    public int Feed(ReadOnlySpan<byte> data)
    {
        var used = 0;
        while (State == MatchState.NeedMore && used < data.Length)
        {
            _received[_length++] = data[used++];
            var seen = Received;
            var current = IsPrefix(seen, HandshakeSignature.CurrentPhrase);
            var original = IsPrefix(seen, HandshakeSignature.OriginalPhrase);
            if (current && seen.Length == HandshakeSignature.CurrentPhrase.Length)
            {
                State = MatchState.Matched;
                Kind = SignatureKind.Current;
            }
            else if (original && seen.Length == HandshakeSignature.OriginalPhrase.Length)
            {
                State = MatchState.Matched;
                Kind = SignatureKind.Original;
            }
            else if (!current && !original)
            {
                State = MatchState.Mismatch;
            }
        }
        return used;
    }

    /// <summary>The peer closed the connection: a partial phrase is a mismatch.</summary>
    public void EndOfStream()
    {
        if (State == MatchState.NeedMore) State = MatchState.Mismatch;
    }

    private static bool IsPrefix(ReadOnlySpan<byte> seen, ReadOnlySpan<byte> phrase) =>
        seen.Length <= phrase.Length && phrase.StartsWith(seen);
}

/// <summary>What a guest learned from one connection on its handshake port.</summary>
public enum AnswerOutcome
{
    /// <summary>Not decided yet; read more.</summary>
    Pending,

    /// <summary>The host read the phrase and closed without writing: a probe (spec §2.3 step 2). Normal.</summary>
    Probe,

    /// <summary>The host wrote READY: dial the data port now.</summary>
    Ready,

    /// <summary>Something else was written: not a host-switch, or a broken one.</summary>
    Garbage,
}

/// <summary>
/// The guest's reader after it wrote its phrase: exactly five bytes <c>READY</c>, or EOF with nothing (a probe).
/// Sans-IO: bytes in, outcome out.
/// </summary>
public sealed class ReadyMatcher
{
    private readonly byte[] _received = new byte[5];
    private int _length;

    public AnswerOutcome Outcome { get; private set; }

    public ReadOnlySpan<byte> Received => _received.AsSpan(0, _length);

    public int Wanted => Outcome == AnswerOutcome.Pending ? HandshakeSignature.Ready.Length - _length : 0;

    public int Feed(ReadOnlySpan<byte> data)
    {
        var used = 0;
        while (Outcome == AnswerOutcome.Pending && used < data.Length)
        {
            _received[_length++] = data[used++];
            if (!HandshakeSignature.Ready.StartsWith(Received)) Outcome = AnswerOutcome.Garbage;
            else if (_length == HandshakeSignature.Ready.Length) Outcome = AnswerOutcome.Ready;
        }
        return used;
    }

    public void EndOfStream()
    {
        if (Outcome == AnswerOutcome.Pending) Outcome = _length == 0 ? AnswerOutcome.Probe : AnswerOutcome.Garbage;
    }
}
