using System.Runtime.InteropServices;
using RdNet.Transport.Protocols.Dns;

namespace RdNet.Transport.Tests.Dns;

/// <summary>
/// The Windows resolver path's conversion of DnsQuery_W results (DNS_RECORDW lists) into a DNS answer, fed with
/// records laid out in unmanaged memory as windns.h declares them. The API call itself only runs on Windows.
/// </summary>
public sealed class WindowsRecordListTests : IDisposable
{
    private readonly List<IntPtr> _allocations = [];
    private static readonly int P = IntPtr.Size;

    private IntPtr Alloc(int size)
    {
        var p = Marshal.AllocHGlobal(size);
        Marshal.Copy(new byte[size], 0, p, size);
        _allocations.Add(p);
        return p;
    }

    private IntPtr Str(string s)
    {
        var p = Marshal.StringToHGlobalUni(s);
        _allocations.Add(p);
        return p;
    }

    /// <summary>pNext, pName, wType, wDataLength, Flags (section in bits 0-1), dwTtl, dwReserved, Data.</summary>
    private IntPtr Record(IntPtr next, string name, ushort type, uint ttl, Action<IntPtr> data, uint section = 1)
    {
        var r = Alloc(2 * P + 16 + 64);
        Marshal.WriteIntPtr(r, next);
        Marshal.WriteIntPtr(r, P, Str(name));
        Marshal.WriteInt16(r, 2 * P, (short)type);
        Marshal.WriteInt32(r, 2 * P + 4, (int)section);
        Marshal.WriteInt32(r, 2 * P + 8, (int)ttl);
        data(r + 2 * P + 16);
        return r;
    }

    public void Dispose()
    {
        foreach (var p in _allocations) Marshal.FreeHGlobal(p);
    }

    [Fact]
    public void Answer_records_of_every_supported_type_become_a_dns_answer_with_their_ttls()
    {
        var query = DnsBytes.Query(0x7777, "www.corp.example", DnsType.A);
        var list = IntPtr.Zero;
        list = Record(list, "skipped.corp.example", DnsType.A, 1, d => Marshal.WriteInt32(d, 0), section: 3);
        list = Record(list, "_x._tcp.corp.example", DnsType.Srv, 30, d =>
        {
            Marshal.WriteIntPtr(d, Str("srv.corp.example"));
            Marshal.WriteInt16(d, P, 1);
            Marshal.WriteInt16(d, P + 2, 5);
            Marshal.WriteInt16(d, P + 4, 8080);
        });
        list = Record(list, "corp.example", DnsType.Txt, 40, d =>
        {
            Marshal.WriteInt32(d, 2);
            Marshal.WriteIntPtr(d, P, Str("one"));
            Marshal.WriteIntPtr(d, 2 * P, Str(new string('z', 300)));
        });
        list = Record(list, "corp.example", DnsType.Mx, 50, d =>
        {
            Marshal.WriteIntPtr(d, Str("mail.corp.example"));
            Marshal.WriteInt16(d, P, 10);
        });
        list = Record(list, "real.corp.example", DnsType.A, 60, d => { Marshal.WriteByte(d, 0, 10); Marshal.WriteByte(d, 1, 1); Marshal.WriteByte(d, 2, 2); Marshal.WriteByte(d, 3, 3); });
        list = Record(list, "www.corp.example", DnsType.Cname, 70, d => Marshal.WriteIntPtr(d, Str("real.corp.example")));

        var answer = DnsRecordList.ToAnswer(query, 0, list);
        Assert.True(DnsMessage.TryParse(answer, out var m, out var reason), reason.ToString());
        Assert.Equal(0x7777, m.Id);
        Assert.Equal(0, m.Rcode);
        Assert.Equal(5, m.AnswerCount);
        var types = new List<(ushort, uint, byte[])>();
        var w = m.Records();
        while (w.MoveNext())
        {
            DnsName.TrySkip(answer, w.Start, out var at, out _);
            types.Add((w.Type, w.Ttl, answer[(at + DnsMessage.FixedRecordLength)..w.End]));
        }
        Assert.Equal([DnsType.Cname, DnsType.A, DnsType.Mx, DnsType.Txt, DnsType.Srv], types.Select(t => t.Item1));
        Assert.Equal([70u, 60u, 50u, 40u, 30u], types.Select(t => t.Item2));
        Assert.Equal(DnsBytes.Name("real.corp.example"), types[0].Item3);
        Assert.Equal([10, 1, 2, 3], types[1].Item3);
        Assert.Equal([0, 10, .. DnsBytes.Name("mail.corp.example")], types[2].Item3);
        // "one", then 300 bytes split into 255 + 45 character-strings.
        Assert.Equal(4 + 256 + 46, types[3].Item3.Length);
        Assert.Equal(3, types[3].Item3[0]);
        Assert.Equal(255, types[3].Item3[4]);
        Assert.Equal(45, types[3].Item3[260]);
        Assert.Equal([0, 1, 0, 5, 0x1F, 0x90, .. DnsBytes.Name("srv.corp.example")], types[4].Item3);
    }

    [Theory]
    [InlineData(9003, DnsRcode.NxDomain)]
    [InlineData(9501, DnsRcode.NoError)]
    [InlineData(9002, DnsRcode.ServFail)]
    public void Resolver_statuses_map_to_rcodes(int status, int rcode)
    {
        var answer = DnsRecordList.ToAnswer(DnsBytes.Query(1, "x.corp.example", DnsType.A), status, IntPtr.Zero);
        Assert.True(DnsMessage.TryParse(answer, out var m, out _));
        Assert.Equal(rcode, m.Rcode);
        Assert.Equal(0, m.AnswerCount);
    }

    [Fact]
    public void An_unknown_failure_status_is_an_upstream_error()
    {
        Assert.Throws<DnsUpstreamException>(() => DnsRecordList.ToAnswer(DnsBytes.Query(1, "x.corp.example", DnsType.A), 1460, IntPtr.Zero));
    }
}
