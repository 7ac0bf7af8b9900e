using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>A zone served by the gateway itself: names relative to the zone (lower case) and their IPv4 address.</summary>
public sealed record DnsZone(string Name, IReadOnlyDictionary<string, Ipv4Address> Records)
{
    /// <summary>The zone name in lower case with the trailing dot.</summary>
    public string Fqdn { get; } = Name.TrimEnd('.').ToLowerInvariant() + ".";
}

/// <param name="Zones">Local zones, matched in order.</param>
/// <param name="Ttl">TTL of local answers (the original used 0).</param>
/// <param name="NegativeTtl">SOA minimum for local NXDOMAIN/NODATA answers (RFC 2308).</param>
/// <param name="UdpPayloadSize">Our EDNS UDP payload size: the most we send over UDP to an EDNS client, and what our OPT advertises.</param>
public sealed record DnsServerOptions(IReadOnlyList<DnsZone> Zones, uint Ttl, uint NegativeTtl, int UdpPayloadSize);

public enum DnsTransport
{
    Udp,
    Tcp,
}

public enum DnsOutcome
{
    /// <summary>Nothing to send (a response from the guest, a header too short to answer); the reason was counted.</summary>
    Dropped,

    /// <summary>The reply was written.</summary>
    Answered,

    /// <summary>The query goes upstream: send <see cref="DnsForward.UpstreamQuery"/>.</summary>
    Forward,
}

/// <summary>What the server keeps about a query it sent upstream, to build the guest's answer from the upstream's.</summary>
public sealed record DnsForward(
    ushort ClientId,
    ushort ClientFlags,
    byte[] ClientQuestion,
    DnsQuestion Question,
    bool ClientEdns,
    int ResponseLimit,
    ushort UpstreamId,
    byte[] UpstreamQuery);

/// <summary>
/// The gateway's DNS, sans-IO (spec §5.6, issue #3): one query in, the reply bytes or "ask upstream" out.
/// <list type="bullet">
/// <item>Local zones: <c>host</c>/<c>gateway</c> (configurable) under each zone answer A; other names in a zone are
/// NXDOMAIN with the zone's SOA; names compare case-insensitively (RFC 4343) and the question is echoed as sent.</item>
/// <item>AAAA is an empty NOERROR for every name: the virtual network has no IPv6 (spec §4.4).</item>
/// <item>Everything else is forwarded unchanged with a fresh ID; the upstream's RCODE and TTLs are kept, only the ID,
/// the question's case, RA and the OPT's size are ours.</item>
/// <item>Replies: ID, opcode, question and RD copied, RA set; an EDNS query gets an OPT with our size; a UDP reply
/// longer than 512 bytes (or the client's EDNS size, capped at ours) is cut at a record boundary with TC set; a
/// TCP reply is complete (RFC 7766).</item>
/// <item>Malformed queries (RELIABILITY row 7) get FORMERR when the header can be read, and are counted.</item>
/// </list>
/// </summary>
public sealed class DnsServer
{
    public const int ClassicUdpLimit = 512;
    public const int TcpLimit = ushort.MaxValue;
    private const uint SoaSerial = 1, SoaRefresh = 3600, SoaRetry = 600, SoaExpire = 86400;

    private readonly DnsServerOptions _options;

    public DnsServer(DnsServerOptions options, DropCounters drops)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.UdpPayloadSize, ClassicUdpLimit);
        _options = options;
        Drops = drops;
    }

    public DropCounters Drops { get; }
    public long LocalAnswers { get; private set; }
    public long FormatErrors { get; private set; }
    public long Forwarded { get; private set; }

    public DnsOutcome Handle(ReadOnlySpan<byte> query, DnsTransport transport, ushort upstreamId, Span<byte> reply,
        out int replyLength, out DnsForward? forward)
    {
        replyLength = 0;
        forward = null;
        if (!DnsMessage.TryParse(query, out var msg, out var reason))
        {
            Drops.Increment(reason);
            return FormatError(query, reply, ref replyLength);
        }
        if (msg.IsResponse)
        {
            Drops.Increment(DropReason.DnsResponseFromGuest);
            return DnsOutcome.Dropped;
        }
        var ednsSize = msg.Edns is { } e ? (int)e.UdpPayloadSize : 0;
        var limit = transport == DnsTransport.Tcp ? TcpLimit
            : msg.Edns is null ? ClassicUdpLimit
            : Math.Clamp(ednsSize, ClassicUdpLimit, _options.UdpPayloadSize);
        var flags = ResponseFlags(msg.Flags);
        if (msg.Opcode != 0)
        {
            // RFC 1035 §4.1.1: only standard queries; NOTIFY, UPDATE and the rest are not implemented here.
            replyLength = WriteBare(reply, msg.Id, (ushort)(flags | DnsRcode.NotImp), msg.QuestionCount == 1 ? msg.QuestionSection : default, msg.Edns is not null);
            return DnsOutcome.Answered;
        }
        if (msg.QuestionCount != 1)
        {
            // RFC 9619: a query has exactly one question.
            Drops.Increment(msg.QuestionCount == 0 ? DropReason.DnsNoQuestion : DropReason.DnsManyQuestions);
            return FormatError(query, reply, ref replyLength);
        }
        if (msg.Edns is { Version: > 0 })
        {
            // RFC 6891 §6.1.3: BADVERS, with an OPT for the version we speak.
            replyLength = WriteBare(reply, msg.Id, flags, msg.QuestionSection, true, DnsRcode.BadVers >> 4);
            return DnsOutcome.Answered;
        }
        var question = msg.FirstQuestion();
        if (TryAnswerLocally(msg, question, flags, limit, reply, out replyLength))
        {
            LocalAnswers++;
            return DnsOutcome.Answered;
        }
        var upstreamQuery = query[..msg.End].ToArray();
        upstreamQuery[DnsMessage.IdOffset] = (byte)(upstreamId >> 8);
        upstreamQuery[DnsMessage.IdOffset + 1] = (byte)upstreamId;
        forward = new DnsForward(msg.Id, msg.Flags, msg.QuestionSection.ToArray(), question, msg.Edns is not null, limit, upstreamId, upstreamQuery);
        Forwarded++;
        return DnsOutcome.Forward;
    }

    /// <summary>
    /// Builds the guest's reply from the upstream's answer to <paramref name="forward"/>. An answer that is malformed,
    /// not a response, or for another ID or question is a SERVFAIL (counted). Returns the reply's length.
    /// </summary>
    public int CompleteForward(DnsForward forward, ReadOnlySpan<byte> answer, Span<byte> reply)
    {
        if (!DnsMessage.TryParse(answer, out var msg, out _))
        {
            Drops.Increment(DropReason.DnsUpstreamMalformed);
            return ServerFailure(forward, reply);
        }
        if (!msg.IsResponse || msg.Id != forward.UpstreamId || msg.QuestionCount != 1 || msg.FirstQuestion() != forward.Question)
        {
            Drops.Increment(DropReason.DnsUpstreamMismatch);
            return ServerFailure(forward, reply);
        }
        var w = new DnsWriter(reply[..Math.Min(reply.Length, forward.ResponseLimit)]);
        var flags = (ushort)(msg.Flags | DnsMessage.RaFlag);
        w.Header(forward.ClientId, flags, 1, 0, 0, 0);
        // The client's own question bytes: same length as the upstream's (same name, maybe another case), so every
        // compression pointer of the upstream's records still lands where it did.
        w.Bytes(forward.ClientQuestion);
        if (w.Position != msg.QuestionEnd)
        {
            Drops.Increment(DropReason.DnsUpstreamMismatch);
            return ServerFailure(forward, reply);
        }
        var optLength = !forward.ClientEdns ? 0 : msg.Edns is { } ue ? ue.Length : DnsWriter.OptLength;
        int an = 0, ns = 0, ar = 0;
        var truncated = false;
        var walker = msg.Records();
        while (walker.MoveNext())
        {
            if (walker.Type == DnsType.Opt && walker.Section == DnsSection.Additional)
                break; // re-appended below; records after it are dropped so no pointer can land in a moved record
            var length = walker.End - walker.Start;
            if (w.Position + length + optLength > w.Capacity)
            {
                // RFC 2181 §9: TC only when the answer or authority could not be carried whole.
                truncated = walker.Section != DnsSection.Additional;
                break;
            }
            w.Bytes(answer[walker.Start..walker.End]);
            switch (walker.Section)
            {
                case DnsSection.Answer: an++; break;
                case DnsSection.Authority: ns++; break;
                default: ar++; break;
            }
        }
        if (forward.ClientEdns)
        {
            if (msg.Edns is { } opt)
            {
                var start = w.Position;
                w.Bytes(answer.Slice(opt.Offset, opt.Length));
                // The OPT owner is the root (one byte); its CLASS is the payload size: advertise ours.
                reply[start + 3] = (byte)(_options.UdpPayloadSize >> 8);
                reply[start + 4] = (byte)_options.UdpPayloadSize;
            }
            else
            {
                w.Opt((ushort)_options.UdpPayloadSize);
            }
            ar++;
        }
        if (w.Overflow)
        {
            // The reply buffer cannot even hold the header, question and OPT: nothing sensible to send but SERVFAIL.
            Drops.Increment(DropReason.DnsUpstreamMalformed);
            return ServerFailure(forward, reply);
        }
        if (truncated) w.PatchFlags((ushort)(flags | DnsMessage.TcFlag));
        w.PatchCounts(1, an, ns, ar);
        return w.Position;
    }

    /// <summary>SERVFAIL for a forwarded query (upstream timeout, failure, overload).</summary>
    public int ServerFailure(DnsForward forward, Span<byte> reply) =>
        WriteBare(reply, forward.ClientId, (ushort)(ResponseFlags(forward.ClientFlags) | DnsRcode.ServFail), forward.ClientQuestion, forward.ClientEdns);

    private static ushort ResponseFlags(ushort queryFlags) =>
        (ushort)(DnsMessage.QrFlag | (queryFlags & 0x7800) | (queryFlags & DnsMessage.RdFlag) | (queryFlags & DnsMessage.CdFlag) | DnsMessage.RaFlag);

    private DnsOutcome FormatError(ReadOnlySpan<byte> query, Span<byte> reply, ref int replyLength)
    {
        if (!DnsMessage.TryReadHeader(query, out var id, out var flags) || (flags & DnsMessage.QrFlag) != 0)
            return DnsOutcome.Dropped; // too short to answer (already counted), or a response: never answered
        FormatErrors++;
        replyLength = WriteBare(reply, id, (ushort)(ResponseFlags(flags) | DnsRcode.FormErr), default, false);
        return DnsOutcome.Answered;
    }

    /// <summary>A reply with no records: header, the question (if any) and our OPT when the client used EDNS.</summary>
    private int WriteBare(Span<byte> reply, ushort id, ushort flags, ReadOnlySpan<byte> question, bool edns, byte extendedRcode = 0)
    {
        var w = new DnsWriter(reply);
        w.Header(id, flags, question.IsEmpty ? 0 : 1, 0, 0, edns ? 1 : 0);
        w.Bytes(question);
        if (edns) w.Opt((ushort)_options.UdpPayloadSize, extendedRcode);
        return w.Overflow ? 0 : w.Position;
    }

    private bool TryAnswerLocally(DnsMessage msg, DnsQuestion q, ushort flags, int limit, Span<byte> reply, out int length)
    {
        length = 0;
        DnsZone? zone = null;
        foreach (var z in _options.Zones)
        {
            if (q.Name == z.Fqdn || q.Name.EndsWith("." + z.Fqdn, StringComparison.Ordinal))
            {
                zone = z;
                break;
            }
        }
        if (zone is null && q.Type != DnsType.Aaaa) return false;

        var edns = msg.Edns is not null;
        var w = new DnsWriter(reply[..Math.Min(reply.Length, limit)]);
        if (zone is null)
        {
            // AAAA outside our zones: no IPv6 in the virtual network, so never an address the guest cannot reach.
            w.Header(msg.Id, flags, 1, 0, 0, edns ? 1 : 0);
            w.Bytes(msg.QuestionSection);
            if (edns) w.Opt((ushort)_options.UdpPayloadSize);
            length = w.Overflow ? 0 : w.Position;
            return true;
        }

        var relative = q.Name.Length == zone.Fqdn.Length ? "" : q.Name[..(q.Name.Length - zone.Fqdn.Length - 1)];
        var exists = relative.Length == 0 || zone.Records.ContainsKey(relative);
        var hasAddress = relative.Length > 0 && zone.Records.TryGetValue(relative, out _);
        var answer = hasAddress && q.Class == DnsType.ClassIn && q.Type is DnsType.A or DnsType.Any;
        var rcode = exists ? DnsRcode.NoError : DnsRcode.NxDomain;
        w.Header(msg.Id, (ushort)(flags | DnsMessage.AaFlag | rcode), 1, answer ? 1 : 0, answer ? 0 : 1, edns ? 1 : 0);
        w.Bytes(msg.QuestionSection);
        if (answer)
        {
            w.ARecord(DnsMessage.HeaderLength, _options.Ttl, zone.Records[relative]);
        }
        else
        {
            // RFC 2308 §3: NXDOMAIN and NODATA carry the zone's SOA so resolvers can cache the negative answer.
            w.Name(zone.Fqdn);
            w.UInt16(DnsType.Soa);
            w.UInt16(DnsType.ClassIn);
            w.UInt32(_options.NegativeTtl);
            var rdLengthAt = w.Position;
            w.UInt16(0);
            w.Name("gateway." + zone.Fqdn);
            w.Name("hostmaster." + zone.Fqdn);
            w.UInt32(SoaSerial);
            w.UInt32(SoaRefresh);
            w.UInt32(SoaRetry);
            w.UInt32(SoaExpire);
            w.UInt32(_options.NegativeTtl);
            if (!w.Overflow)
            {
                var rdLength = w.Position - rdLengthAt - 2;
                reply[rdLengthAt] = (byte)(rdLength >> 8);
                reply[rdLengthAt + 1] = (byte)rdLength;
            }
        }
        if (edns) w.Opt((ushort)_options.UdpPayloadSize);
        // A question so long that even the SOA does not fit: the header and question alone, truncated.
        length = w.Overflow
            ? WriteBare(reply[..Math.Min(reply.Length, limit)], msg.Id, (ushort)(flags | DnsMessage.AaFlag | DnsMessage.TcFlag | rcode), msg.QuestionSection, edns)
            : w.Position;
        return true;
    }

    /// <summary>The zones of spec §4.2 for a virtual network: host → .254 and gateway → .1 in each.</summary>
    public static IReadOnlyList<DnsZone> DefaultZones(Ipv4Address gateway, Ipv4Address hostAlias) =>
    [
        new DnsZone("rancher-desktop.internal.", new Dictionary<string, Ipv4Address> { ["host"] = hostAlias, ["gateway"] = gateway }),
        new DnsZone("docker.internal.", new Dictionary<string, Ipv4Address> { ["host"] = hostAlias, ["gateway"] = gateway }),
    ];
}
