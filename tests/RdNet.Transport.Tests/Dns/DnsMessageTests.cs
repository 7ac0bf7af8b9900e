using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Protocols.Dns;

namespace RdNet.Transport.Tests.Dns;

/// <summary>The DNS wire view: real bytes, and every length-check branch of RELIABILITY row 7.</summary>
public sealed class DnsMessageTests
{
    // `dig @127.0.0.1 WWW.Example.test A` (BIND 9.18): RD and AD set, EDNS 1232 with a client cookie.
    internal static readonly byte[] DigQuery = Convert.FromHexString(
        "aacb01200001000000000001" +                              // id, flags RD|AD, QD 1, AR 1
        "03575757074578616d706c650474657374000001 0001".Replace(" ", "", StringComparison.Ordinal) + // WWW.Example.test A IN
        "00002904d000000000000c000a0008a0aff73c99dedfb4");        // OPT 1232, cookie option

    private static byte[] Header(ushort id, ushort flags, int qd, int an = 0, int ns = 0, int ar = 0) =>
    [
        (byte)(id >> 8), (byte)id, (byte)(flags >> 8), (byte)flags,
        (byte)(qd >> 8), (byte)qd, (byte)(an >> 8), (byte)an, (byte)(ns >> 8), (byte)ns, (byte)(ar >> 8), (byte)ar,
    ];

    private static DropReason Reason(byte[] message)
    {
        Assert.False(DnsMessage.TryParse(message, out _, out var reason));
        return reason;
    }

    [Fact]
    public void A_real_dig_query_parses_with_its_question_lower_cased_and_its_edns()
    {
        Assert.True(DnsMessage.TryParse(DigQuery, out var m, out var reason), reason.ToString());
        Assert.Equal(0xaacb, m.Id);
        Assert.False(m.IsResponse);
        Assert.Equal(0, m.Opcode);
        Assert.Equal(1, m.QuestionCount);
        Assert.Equal(new DnsQuestion("www.example.test.", DnsType.A, DnsType.ClassIn), m.FirstQuestion());
        Assert.Equal(DigQuery.Length, m.End);
        Assert.Equal(1232, m.Edns!.Value.UdpPayloadSize);
        Assert.Equal(0, m.Edns.Value.Version);
        // The question section is kept as sent, case and all.
        Assert.Equal("WWW", System.Text.Encoding.ASCII.GetString(m.QuestionSection.Slice(1, 3)));
    }

    [Fact]
    public void Messages_shorter_than_the_header_are_refused()
    {
        Assert.Equal(DropReason.DnsHeaderTruncated, Reason([1, 2, 3, 4, 5]));
    }

    [Fact]
    public void A_compression_pointer_to_itself_is_refused()
    {
        // Question name = pointer to offset 12, i.e. to itself.
        Assert.Equal(DropReason.DnsPointerNotBackward, Reason([.. Header(1, 0x0100, 1), 0xC0, 12, 0, 1, 0, 1]));
    }

    [Fact]
    public void A_compression_pointer_loop_between_two_names_is_refused()
    {
        // Answer owner at 19: label "a" then a pointer back to 19 ("backward" from where the pointer sits, but into its own run).
        byte[] m = [.. Header(1, 0x8180, 1, 1), 0x01, (byte)'x', 0, 0, 1, 0, 1, /* 19: */ 0x01, (byte)'a', 0xC0, 19, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0];
        Assert.Equal(DropReason.DnsPointerNotBackward, Reason(m));
    }

    [Fact]
    public void A_forward_compression_pointer_is_refused()
    {
        Assert.Equal(DropReason.DnsPointerNotBackward, Reason([.. Header(1, 0x0100, 1), 0xC0, 20, 0, 1, 0, 1, 0, 0, 0, 0]));
    }

    [Fact]
    public void A_long_chain_of_pointers_to_pointers_is_refused_after_127_hops()
    {
        // Header, question "a", then 200 pointers each to the one before it; an answer owned by the last one.
        var m = new List<byte>(Header(1, 0x8180, 1, 1)) { 1, (byte)'a', 0, 0, 1, 0, 1 };
        var first = m.Count;
        m.AddRange([0xC0, 12]);
        for (var i = 1; i < 200; i++)
        {
            var target = first + 2 * (i - 1);
            m.AddRange([(byte)(0xC0 | (target >> 8)), (byte)target]);
        }
        var chain = m.ToArray();
        // The last pointer in the chain, used as the answer's owner, walks 200 hops: refused.
        var owner = chain.Length - 2;
        Assert.False(DnsName.TrySkip(chain, owner, out _, out var reason));
        Assert.Equal(DropReason.DnsTooManyPointers, reason);
        // 100 hops is fine.
        Assert.True(DnsName.TryRead(chain, first + 2 * 99, out var name, out _, out _));
        Assert.Equal("a.", name);
    }

    [Fact]
    public void A_backward_pointer_chain_is_followed()
    {
        // Answer owner "www" + pointer to the question's "example" name at 12.
        byte[] m = [.. Header(1, 0x8180, 1, 1), 7, .. "example"u8, 0, 0, 1, 0, 1, 3, .. "www"u8, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1];
        Assert.True(DnsMessage.TryParse(m, out var view, out var reason), reason.ToString());
        var w = view.Records();
        Assert.True(w.MoveNext());
        Assert.True(DnsName.TryRead(m, w.Start, out var owner, out _, out _));
        Assert.Equal("www.example.", owner);
        Assert.Equal(60u, w.Ttl);
        Assert.Equal(m.Length, w.End);
        Assert.False(w.MoveNext());
    }

    [Fact]
    public void A_label_longer_than_63_bytes_is_refused()
    {
        Assert.Equal(DropReason.DnsLabelTooLong, Reason([.. Header(1, 0x0100, 1), 64, .. new byte[64], 0, 0, 1, 0, 1]));
    }

    [Fact]
    public void A_name_longer_than_255_bytes_is_refused()
    {
        var name = new List<byte>();
        for (var i = 0; i < 5; i++) name.AddRange([63, .. new byte[63]]); // 5 x 64 = 320 bytes
        Assert.Equal(DropReason.DnsNameTooLong, Reason([.. Header(1, 0x0100, 1), .. name, 0, 0, 1, 0, 1]));
    }

    [Fact]
    public void Counts_larger_than_the_data_are_refused()
    {
        Assert.Equal(DropReason.DnsNamePastEnd, Reason([.. Header(1, 0x0100, 2), 1, (byte)'a', 0, 0, 1, 0, 1]));
        Assert.Equal(DropReason.DnsNamePastEnd, Reason([.. Header(1, 0x0100, 1, an: 40), 1, (byte)'a', 0, 0, 1, 0, 1]));
        Assert.Equal(DropReason.DnsRecordPastEnd, Reason([.. Header(1, 0x0100, 1), 1, (byte)'a', 0, 0, 1]));
    }

    [Fact]
    public void A_record_whose_data_length_runs_past_the_end_is_refused()
    {
        Assert.Equal(DropReason.DnsRecordPastEnd, Reason([.. Header(1, 0x8180, 1, 1), 1, (byte)'a', 0, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2]));
        Assert.Equal(DropReason.DnsRecordPastEnd, Reason([.. Header(1, 0x8180, 1, 1), 1, (byte)'a', 0, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1]));
    }

    [Fact]
    public void Two_opt_records_are_refused()
    {
        byte[] opt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(DropReason.DnsManyOptRecords, Reason([.. Header(1, 0x0100, 1, ar: 2), 1, (byte)'a', 0, 0, 1, 0, 1, .. opt, .. opt]));
    }

    [Fact]
    public void Names_are_written_uncompressed_and_read_back_lower_cased()
    {
        var buffer = new byte[300];
        var n = DnsName.Write(buffer, "Host.Docker.Internal.");
        Assert.Equal(22, n);
        Assert.True(DnsName.TryRead(buffer, 0, out var name, out var next, out _));
        Assert.Equal("host.docker.internal.", name);
        Assert.Equal(n, next);
        Assert.Equal(-1, DnsName.Write(buffer, new string('a', 64) + ".test"));
        Assert.Equal(-1, DnsName.Write(buffer, "a..b"));
        Assert.Equal(1, DnsName.Write(buffer, "."));
    }

    [Property(MaxTest = 300)]
    public Property Any_name_of_valid_labels_round_trips(NonEmptyArray<NonEmptyString> labels)
    {
        var clean = labels.Get.Select(l => new string(l.Get.Where(c => c is > ' ' and < (char)0x7F and not '.').Take(63).ToArray()))
            .Where(l => l.Length > 0).Take(3).ToArray();
        if (clean.Length == 0) return true.ToProperty();
        var text = string.Join('.', clean) + ".";
        var buffer = new byte[512];
        var n = DnsName.Write(buffer, text);
        var ok = DnsName.TryRead(buffer, 0, out var back, out var next, out _);
        return (n > 0 && ok && next == n && string.Equals(back, text.ToLowerInvariant(), StringComparison.Ordinal)).Label(text);
    }

    [Property(MaxTest = 1000)]
    public bool Arbitrary_bytes_never_throw_and_a_parsed_message_walks_inside_its_bounds(byte[] body, ushort qd, ushort an, ushort ar)
    {
        byte[] m = [.. Header(7, 0x0100, qd % 4, an % 8, 0, ar % 4), .. body ?? []];
        if (!DnsMessage.TryParse(m, out var view, out var reason)) return reason != DropReason.None;
        var w = view.Records();
        var last = view.QuestionEnd;
        while (w.MoveNext())
        {
            if (w.Start != last || w.End > m.Length) return false;
            last = w.End;
        }
        if (view.QuestionCount > 0) _ = view.FirstQuestion();
        return last == view.End;
    }
}
