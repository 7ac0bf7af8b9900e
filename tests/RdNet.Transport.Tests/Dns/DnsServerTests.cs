using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Protocols.Dns;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Dns;

/// <summary>Test messages built byte by byte, independently of <see cref="DnsWriter"/>.</summary>
internal static class DnsBytes
{
    public static byte[] Name(string name)
    {
        var b = new List<byte>();
        foreach (var l in name.TrimEnd('.').Split('.'))
        {
            b.Add((byte)l.Length);
            b.AddRange(Encoding.ASCII.GetBytes(l));
        }
        b.Add(0);
        return [.. b];
    }

    public static byte[] Query(ushort id, string name, ushort type, int? edns = null, ushort flags = 0x0100, byte ednsVersion = 0)
    {
        var b = new List<byte> { (byte)(id >> 8), (byte)id, (byte)(flags >> 8), (byte)flags, 0, 1, 0, 0, 0, 0, 0, (byte)(edns is null ? 0 : 1) };
        b.AddRange(Name(name));
        b.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
        if (edns is { } size) b.AddRange([0, 0, 41, (byte)(size >> 8), (byte)size, 0, ednsVersion, 0, 0, 0, 0]);
        return [.. b];
    }

    /// <summary>An upstream answer to <paramref name="query"/>: the query's header and question, then the records (owner = pointer to the question).</summary>
    public static byte[] Answer(byte[] query, int rcode, params (ushort Type, uint Ttl, byte[] Data)[] records) =>
        AnswerWithOpt(query, rcode, null, records);

    public static byte[] AnswerWithOpt(byte[] query, int rcode, int? optSize, params (ushort Type, uint Ttl, byte[] Data)[] records)
    {
        if (!DnsMessage.TryParse(query, out var q, out var reason)) throw new ArgumentException(reason.ToString(), nameof(query));
        var b = new List<byte>(query.AsSpan(0, q.QuestionEnd).ToArray());
        b[2] = (byte)(0x80 | (query[2] & 0x01));
        b[3] = (byte)(0x80 | rcode);
        b[6] = (byte)(records.Length >> 8);
        b[7] = (byte)records.Length;
        b[10] = 0;
        b[11] = (byte)(optSize is null ? 0 : 1);
        foreach (var (type, ttl, data) in records)
        {
            b.AddRange([0xC0, 12, (byte)(type >> 8), (byte)type, 0, 1, (byte)(ttl >> 24), (byte)(ttl >> 16), (byte)(ttl >> 8), (byte)ttl, (byte)(data.Length >> 8), (byte)data.Length]);
            b.AddRange(data);
        }
        if (optSize is { } s) b.AddRange([0, 0, 41, (byte)(s >> 8), (byte)s, 0, 0, 0, 0, 0, 0]);
        return [.. b];
    }

    public static byte[] Txt(int length) => [(byte)(length - 1), .. Enumerable.Repeat((byte)'x', length - 1)];
}

public sealed class DnsServerTests
{
    private static readonly Ipv4Address Gateway = Ipv4Address.Parse("192.168.127.1");
    private static readonly Ipv4Address HostAlias = Ipv4Address.Parse("192.168.127.254");
    private readonly DropCounters _drops = new();
    private readonly DnsServer _server;

    public DnsServerTests() =>
        _server = new DnsServer(new DnsServerOptions(DnsServer.DefaultZones(Gateway, HostAlias), 0, 60, 1232), _drops);

    private (DnsOutcome Outcome, byte[] Reply, DnsForward? Forward) Handle(byte[] query, DnsTransport transport = DnsTransport.Udp, ushort upstreamId = 0x4242)
    {
        var buffer = new byte[65535];
        var outcome = _server.Handle(query, transport, upstreamId, buffer, out var length, out var forward);
        return (outcome, buffer[..length], forward);
    }

    private static DnsMessage Parse(byte[] reply)
    {
        Assert.True(DnsMessage.TryParse(reply, out var m, out var reason), reason.ToString());
        return m;
    }

    private static byte[] RData(byte[] reply, int index)
    {
        var w = Parse(reply).Records();
        for (var i = 0; i <= index; i++) Assert.True(w.MoveNext());
        DnsName.TrySkip(reply, w.Start, out var fixedAt, out _);
        return reply[(fixedAt + DnsMessage.FixedRecordLength)..w.End];
    }

    [Theory]
    [InlineData("host.rancher-desktop.internal", "192.168.127.254")]
    [InlineData("gateway.rancher-desktop.internal", "192.168.127.1")]
    [InlineData("host.docker.internal", "192.168.127.254")]
    [InlineData("gateway.docker.internal.", "192.168.127.1")]
    [InlineData("HoSt.DOCKER.internal", "192.168.127.254")]
    public void Local_names_are_answered_with_their_address_whatever_the_case(string name, string address)
    {
        var query = DnsBytes.Query(0xBEEF, name, DnsType.A);
        var (outcome, reply, forward) = Handle(query);
        Assert.Equal(DnsOutcome.Answered, outcome);
        Assert.Null(forward);
        var m = Parse(reply);
        Assert.Equal(0xBEEF, m.Id);
        Assert.True(m.IsResponse);
        Assert.Equal(DnsMessage.QrFlag | DnsMessage.AaFlag | DnsMessage.RdFlag | DnsMessage.RaFlag, m.Flags);
        Assert.Equal(1, m.AnswerCount);
        // The question is echoed byte for byte, case included (RFC 4343 §4.1).
        Assert.Equal(query.AsSpan(12).ToArray(), m.QuestionSection.ToArray());
        Assert.Equal(Ipv4Address.Parse(address), Ipv4Address.Read(RData(reply, 0)));
        var w = m.Records();
        w.MoveNext();
        Assert.Equal(0u, w.Ttl);
        Assert.Equal(0, _drops.Total);
    }

    [Fact]
    public void Rd_clear_in_the_query_stays_clear_and_ra_is_always_set()
    {
        var (_, reply, _) = Handle(DnsBytes.Query(1, "host.docker.internal", DnsType.A, flags: 0));
        Assert.Equal(DnsMessage.QrFlag | DnsMessage.AaFlag | DnsMessage.RaFlag, Parse(reply).Flags);
    }

    [Fact]
    public void Other_names_in_a_local_zone_are_nxdomain_with_the_zones_soa()
    {
        var (outcome, reply, _) = Handle(DnsBytes.Query(2, "nope.docker.internal", DnsType.A));
        Assert.Equal(DnsOutcome.Answered, outcome);
        var m = Parse(reply);
        Assert.Equal(DnsRcode.NxDomain, m.Rcode);
        Assert.Equal(0, m.AnswerCount);
        Assert.Equal(1, m.AuthorityCount);
        var w = m.Records();
        w.MoveNext();
        Assert.Equal(DnsType.Soa, w.Type);
        Assert.Equal(60u, w.Ttl);
        Assert.True(DnsName.TryRead(reply, w.Start, out var owner, out _, out _));
        Assert.Equal("docker.internal.", owner);
    }

    [Fact]
    public void Aaaa_is_an_empty_noerror_for_local_and_outside_names_without_asking_upstream()
    {
        foreach (var name in new[] { "host.docker.internal", "www.example.com" })
        {
            var (outcome, reply, forward) = Handle(DnsBytes.Query(3, name, DnsType.Aaaa));
            Assert.Equal(DnsOutcome.Answered, outcome);
            Assert.Null(forward);
            var m = Parse(reply);
            Assert.Equal(DnsRcode.NoError, m.Rcode);
            Assert.Equal(0, m.AnswerCount);
        }
    }

    [Fact]
    public void An_edns_query_gets_an_opt_with_our_size()
    {
        var (_, reply, _) = Handle(DnsBytes.Query(4, "gateway.docker.internal", DnsType.A, edns: 4096));
        var m = Parse(reply);
        Assert.Equal(1232, m.Edns!.Value.UdpPayloadSize);
        Assert.Equal(1, m.AdditionalCount);
        var (_, plain, _) = Handle(DnsBytes.Query(4, "gateway.docker.internal", DnsType.A));
        Assert.Null(Parse(plain).Edns);
    }

    [Fact]
    public void Other_names_are_forwarded_unchanged_under_a_new_id()
    {
        var query = DnsBytes.Query(0x1234, "www.Example.com", DnsType.Mx, edns: 1400);
        var (outcome, _, forward) = Handle(query, upstreamId: 0x9999);
        Assert.Equal(DnsOutcome.Forward, outcome);
        Assert.NotNull(forward);
        Assert.Equal(0x1234, forward.ClientId);
        Assert.Equal(0x9999, BinaryPrimitives.ReadUInt16BigEndian(forward.UpstreamQuery));
        Assert.Equal(query.AsSpan(2).ToArray(), forward.UpstreamQuery.AsSpan(2).ToArray());
        Assert.Equal(new DnsQuestion("www.example.com.", DnsType.Mx, DnsType.ClassIn), forward.Question);
        Assert.Equal(1232, forward.ResponseLimit); // the client's 1400 capped at ours
    }

    [Fact]
    public void The_upstreams_nxdomain_and_ttls_are_kept_and_the_clients_id_restored()
    {
        var query = DnsBytes.Query(0x1111, "gone.example.com", DnsType.A);
        var (_, _, f) = Handle(query, upstreamId: 0x2222);
        var upstreamAnswer = DnsBytes.Answer(f!.UpstreamQuery, DnsRcode.NxDomain);
        var reply = new byte[65535];
        var n = _server.CompleteForward(f, upstreamAnswer, reply);
        var m = Parse(reply[..n]);
        Assert.Equal(0x1111, m.Id);
        Assert.Equal(DnsRcode.NxDomain, m.Rcode);

        var (_, _, f2) = Handle(DnsBytes.Query(0x3333, "www.example.com", DnsType.A), upstreamId: 0x4444);
        n = _server.CompleteForward(f2!, DnsBytes.Answer(f2!.UpstreamQuery, 0, (DnsType.A, 3600, [10, 0, 0, 7])), reply);
        m = Parse(reply[..n]);
        var w = m.Records();
        Assert.True(w.MoveNext());
        Assert.Equal(3600u, w.Ttl);
        Assert.Equal(new Ipv4Address(10, 0, 0, 7), Ipv4Address.Read(RData(reply[..n], 0)));
        Assert.True((m.Flags & DnsMessage.RaFlag) != 0);
    }

    [Fact]
    public void The_clients_question_case_is_restored_in_a_forwarded_answer()
    {
        var query = DnsBytes.Query(5, "WwW.ExAmPlE.CoM", DnsType.A);
        var (_, _, f) = Handle(query);
        // A resolver that lower-cases the question (allowed): the guest still sees its own spelling (DNS 0x20).
        var lowered = DnsBytes.Answer(DnsBytes.Query(f!.UpstreamId, "www.example.com", DnsType.A), 0, (DnsType.A, 5, [1, 2, 3, 4]));
        var reply = new byte[65535];
        var n = _server.CompleteForward(f, lowered, reply);
        Assert.Equal(query.AsSpan(12).ToArray(), Parse(reply[..n]).QuestionSection.ToArray());
    }

    [Fact]
    public void A_udp_answer_over_512_bytes_is_cut_at_a_record_boundary_with_tc()
    {
        var (_, _, f) = Handle(DnsBytes.Query(6, "big.example.com", DnsType.Txt));
        var records = Enumerable.Range(0, 10).Select(_ => (DnsType.Txt, 60u, DnsBytes.Txt(100))).ToArray();
        var full = DnsBytes.Answer(f!.UpstreamQuery, 0, records);
        Assert.True(full.Length > 1000);
        var reply = new byte[65535];
        var n = _server.CompleteForward(f, full, reply);
        Assert.InRange(n, 1, 512);
        var m = Parse(reply[..n]);
        Assert.True(m.IsTruncated);
        // Header 12 + question 21 = 33; each record 2 + 10 + 100 = 112: four fit in 512, a fifth would not.
        Assert.Equal(4, m.AnswerCount);
        Assert.Equal(33 + 4 * 112, n);
        Assert.Equal(full.AsSpan(33, 4 * 112).ToArray(), reply.AsSpan(33, 4 * 112).ToArray());
    }

    [Fact]
    public void A_udp_answer_respects_the_clients_edns_size_and_keeps_room_for_the_opt()
    {
        var (_, _, f) = Handle(DnsBytes.Query(7, "big.example.com", DnsType.Txt, edns: 800));
        Assert.Equal(800, f!.ResponseLimit);
        var records = Enumerable.Range(0, 10).Select(_ => (DnsType.Txt, 60u, DnsBytes.Txt(100))).ToArray();
        var full = DnsBytes.AnswerWithOpt(f.UpstreamQuery, 0, 4096, records);
        var reply = new byte[65535];
        var n = _server.CompleteForward(f, full, reply);
        var m = Parse(reply[..n]);
        Assert.True(n <= 800);
        Assert.True(m.IsTruncated);
        Assert.Equal(6, m.AnswerCount); // 33 + 6 x 112 + 11 = 716; seven would be 828
        Assert.Equal(1232, m.Edns!.Value.UdpPayloadSize);
    }

    [Fact]
    public void A_tcp_answer_is_complete_whatever_the_edns_size()
    {
        var (_, _, f) = Handle(DnsBytes.Query(8, "big.example.com", DnsType.Txt, edns: 600), DnsTransport.Tcp);
        var records = Enumerable.Range(0, 40).Select(_ => (DnsType.Txt, 60u, DnsBytes.Txt(200))).ToArray();
        var full = DnsBytes.AnswerWithOpt(f!.UpstreamQuery, 0, 4096, records);
        var reply = new byte[65535];
        var n = _server.CompleteForward(f, full, reply);
        var m = Parse(reply[..n]);
        Assert.False(m.IsTruncated);
        Assert.Equal(40, m.AnswerCount);
        Assert.Equal(full.Length, n);
    }

    [Fact]
    public void An_upstream_answer_for_another_id_or_question_is_a_counted_servfail()
    {
        var (_, _, f) = Handle(DnsBytes.Query(9, "www.example.com", DnsType.A));
        var reply = new byte[65535];
        var wrongId = DnsBytes.Answer(DnsBytes.Query((ushort)(f!.UpstreamId + 1), "www.example.com", DnsType.A), 0);
        Assert.Equal(DnsRcode.ServFail, Parse(reply[.._server.CompleteForward(f, wrongId, reply)]).Rcode);
        var wrongName = DnsBytes.Answer(DnsBytes.Query(f.UpstreamId, "evil.example.com", DnsType.A), 0);
        Assert.Equal(DnsRcode.ServFail, Parse(reply[.._server.CompleteForward(f, wrongName, reply)]).Rcode);
        Assert.Equal(2, _drops[DropReason.DnsUpstreamMismatch]);
        var garbage = new byte[] { (byte)(f.UpstreamId >> 8), (byte)f.UpstreamId, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12 };
        var m = Parse(reply[.._server.CompleteForward(f, garbage, reply)]);
        Assert.Equal(DnsRcode.ServFail, m.Rcode);
        Assert.Equal(9, m.Id);
        Assert.Equal(1, _drops[DropReason.DnsUpstreamMalformed]);
    }

    [Fact]
    public void Server_failure_echoes_the_question_and_the_opt()
    {
        var (_, _, f) = Handle(DnsBytes.Query(10, "slow.example.com", DnsType.A, edns: 1232));
        var reply = new byte[65535];
        var m = Parse(reply[.._server.ServerFailure(f!, reply)]);
        Assert.Equal(DnsRcode.ServFail, m.Rcode);
        Assert.Equal(10, m.Id);
        Assert.Equal(new DnsQuestion("slow.example.com.", DnsType.A, DnsType.ClassIn), m.FirstQuestion());
        Assert.NotNull(m.Edns);
    }

    [Fact]
    public void Malformed_queries_get_formerr_and_are_counted()
    {
        var loop = new byte[] { 0, 11, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1 };
        var none = new byte[] { 0, 12, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        var two = DnsBytes.Query(13, "a.example.com", DnsType.A);
        two[5] = 2;
        two = [.. two, .. DnsBytes.Name("b.example.com"), 0, 1, 0, 1];
        foreach (var (query, reason) in new[] { (loop, DropReason.DnsPointerNotBackward), (none, DropReason.DnsNoQuestion), (two, DropReason.DnsManyQuestions) })
        {
            var (outcome, reply, _) = Handle(query);
            Assert.Equal(DnsOutcome.Answered, outcome);
            var m = Parse(reply);
            Assert.Equal(DnsRcode.FormErr, m.Rcode);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(query), m.Id);
            Assert.Equal(1, _drops[reason]);
        }
        Assert.Equal(3, _server.FormatErrors);
    }

    [Fact]
    public void A_response_or_a_runt_from_the_guest_is_dropped_silently_and_counted()
    {
        var response = DnsBytes.Query(14, "x.example.com", DnsType.A, flags: 0x8100);
        Assert.Equal(DnsOutcome.Dropped, Handle(response).Outcome);
        Assert.Equal(DnsOutcome.Dropped, Handle([1, 2, 3]).Outcome);
        Assert.Equal(1, _drops[DropReason.DnsResponseFromGuest]);
        Assert.Equal(1, _drops[DropReason.DnsHeaderTruncated]);
    }

    [Fact]
    public void Other_opcodes_get_notimp_and_other_edns_versions_badvers()
    {
        var (_, reply, _) = Handle(DnsBytes.Query(15, "x.example.com", DnsType.A, flags: 0x2000)); // opcode 4, NOTIFY
        Assert.Equal(DnsRcode.NotImp, Parse(reply).Rcode);
        (_, reply, _) = Handle(DnsBytes.Query(16, "x.example.com", DnsType.A, edns: 1232, ednsVersion: 1));
        var m = Parse(reply);
        Assert.Equal(DnsRcode.BadVers >> 4, m.Edns!.Value.ExtendedRcode);
        Assert.Equal(0, m.Rcode);
    }

    [Fact]
    public void The_zone_apex_exists_so_it_is_nodata_not_nxdomain()
    {
        var m = Parse(Handle(DnsBytes.Query(17, "docker.internal", DnsType.A)).Reply);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.Equal(0, m.AnswerCount);
        Assert.Equal(1, m.AuthorityCount);
    }

    [Property(MaxTest = 300)]
    public Property Any_forwarded_answer_fits_the_limit_parses_and_keeps_a_prefix_of_the_upstreams_records(
        byte recordCount, byte[] sizes, bool clientEdns, ushort clientSize, bool tcp)
    {
        var query = DnsBytes.Query(0x0102, "fuzz.example.com", DnsType.Txt, clientEdns ? clientSize : null);
        var buffer = new byte[65535];
        _server.Handle(query, tcp ? DnsTransport.Tcp : DnsTransport.Udp, 0x0304, buffer, out _, out var f);
        var count = recordCount % 60;
        var records = Enumerable.Range(0, count)
            .Select(i => (DnsType.Txt, 60u, DnsBytes.Txt(1 + (sizes is { Length: > 0 } ? sizes[i % sizes.Length] : 10))))
            .ToArray();
        var upstream = DnsBytes.AnswerWithOpt(f!.UpstreamQuery, 0, clientEdns ? 4096 : null, records);
        var n = _server.CompleteForward(f, upstream, buffer);
        var ok = DnsMessage.TryParse(buffer.AsSpan(0, n), out var m, out var reason);
        if (!ok) return false.Label($"reply does not parse: {reason}");
        var kept = m.AnswerCount;
        var recordBytes = m.Records();
        var end = m.QuestionEnd;
        for (var i = 0; i < kept; i++)
        {
            recordBytes.MoveNext();
            end = recordBytes.End;
        }
        var prefixSame = buffer.AsSpan(m.QuestionEnd, end - m.QuestionEnd).SequenceEqual(upstream.AsSpan(m.QuestionEnd, end - m.QuestionEnd));
        return (n <= f.ResponseLimit
                && prefixSame
                && m.IsTruncated == (kept < count)
                && (m.Edns is not null) == clientEdns
                && (!tcp || kept == count))
            .Label($"n={n} limit={f.ResponseLimit} kept={kept}/{count} tc={m.IsTruncated}");
    }
}
