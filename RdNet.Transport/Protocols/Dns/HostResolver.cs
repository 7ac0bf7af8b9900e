using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>
/// The host's own resolver, so that VPN split DNS, the hosts file and search rules apply to the guest as they do to
/// host programs (spec §5.6; the 1.17 regression, spec §8 row 2, came from querying fixed nameservers instead).
/// Linux (and other Unix): the nameservers of /etc/resolv.conf, re-read when it changes. Windows: the OS resolver
/// API (DnsQuery_W), which applies NRPT rules and the VPN's DNS.
/// </summary>
public static class HostResolver
{
    public const string ResolvConfPath = "/etc/resolv.conf";

    public static IDnsUpstream Create() =>
        OperatingSystem.IsWindows() ? new WindowsDnsUpstream() : new ResolvConfUpstream(ResolvConfPath);
}

/// <summary>
/// Windows: each forwarded question is asked of the OS resolver with <c>DnsQuery_W</c> (dnsapi.dll), and the
/// records it returns are written back as a DNS answer: A, AAAA, CNAME, NS, PTR, MX, SRV, TXT and SOA with their
/// TTLs; name errors stay NXDOMAIN, "no records" is an empty NOERROR, a server failure is SERVFAIL. The call blocks,
/// so it runs on the thread pool; a cancelled query's call finishes in the background (the resolver has its own
/// timeouts). Only compiled on Linux: the tests never use a machine's real resolver.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed partial class WindowsDnsUpstream : IDnsUpstream
{
    private const int DnsQueryStandard = 0;
    private const int DnsFreeRecordList = 1;
    [LibraryImport("dnsapi.dll", EntryPoint = "DnsQuery_W", StringMarshalling = StringMarshalling.Utf16)]
    private static partial int DnsQuery(string name, ushort type, int options, IntPtr extra, out IntPtr results, IntPtr reserved);

    [LibraryImport("dnsapi.dll", EntryPoint = "DnsFree")]
    private static partial void DnsFree(IntPtr data, int freeType);

    public string Describe() => "the Windows resolver (DnsQuery_W)";

    public Task<byte[]> QueryAsync(ReadOnlyMemory<byte> query, CancellationToken cancellationToken)
    {
        var copy = query.ToArray();
        return Task.Run(() => Resolve(copy), cancellationToken);
    }

    private static byte[] Resolve(byte[] query)
    {
        if (!DnsMessage.TryParse(query, out var msg, out var reason) || msg.QuestionCount != 1)
            throw new DnsUpstreamException($"cannot forward a malformed query ({reason})");
        var q = msg.FirstQuestion();
        var status = DnsQuery(q.Name.TrimEnd('.'), q.Type, DnsQueryStandard, IntPtr.Zero, out var records, IntPtr.Zero);
        try
        {
            return DnsRecordList.ToAnswer(query, status, records);
        }
        finally
        {
            if (records != IntPtr.Zero) DnsFree(records, DnsFreeRecordList);
        }
    }
}

/// <summary>
/// Turns what <c>DnsQuery_W</c> returned (a status and a linked list of <c>DNS_RECORDW</c>) into a DNS answer to the
/// query. Plain memory reads, no Windows API, so the layout handling is unit-tested on any OS.
/// </summary>
internal static class DnsRecordList
{
    private const int ErrorSuccess = 0;
    private const int DnsErrorRcodeFormatError = 9001, DnsErrorRcodeServerFailure = 9002, DnsErrorRcodeNameError = 9003,
        DnsErrorRcodeNotImplemented = 9004, DnsErrorRcodeRefused = 9005, DnsInfoNoRecords = 9501;
    private const uint SectionMask = 0x3, SectionAnswer = 1;

    public static byte[] ToAnswer(byte[] query, int status, IntPtr records)
    {
        if (!DnsMessage.TryParse(query, out var msg, out var reason) || msg.QuestionCount != 1)
            throw new DnsUpstreamException($"cannot answer a malformed query ({reason})");
        var rcode = status switch
        {
            ErrorSuccess or DnsInfoNoRecords => DnsRcode.NoError,
            DnsErrorRcodeNameError => DnsRcode.NxDomain,
            DnsErrorRcodeServerFailure => DnsRcode.ServFail,
            DnsErrorRcodeRefused => DnsRcode.Refused,
            DnsErrorRcodeFormatError => DnsRcode.FormErr,
            DnsErrorRcodeNotImplemented => DnsRcode.NotImp,
            _ => throw new DnsUpstreamException($"DnsQuery_W failed with status {status}"),
        };
        var buffer = new byte[ushort.MaxValue];
        var w = new DnsWriter(buffer);
        w.Header(msg.Id, (ushort)(DnsMessage.QrFlag | (msg.Flags & DnsMessage.RdFlag) | DnsMessage.RaFlag | rcode), 1, 0, 0, 0);
        w.Bytes(msg.QuestionSection);
        var answers = 0;
        for (var r = status == ErrorSuccess ? records : IntPtr.Zero; r != IntPtr.Zero; r = Marshal.ReadIntPtr(r))
        {
            var mark = w.Mark();
            if (WriteRecord(ref w, r)) answers++;
            if (w.Overflow)
            {
                w.Reset(mark);
                break;
            }
        }
        w.PatchCounts(1, answers, 0, 0);
        return buffer[..w.Position];
    }

    /// <summary>Appends one DNS_RECORDW as a wire record; false for records outside the answer section or of other types.</summary>
    private static bool WriteRecord(ref DnsWriter w, IntPtr record)
    {
        var p = IntPtr.Size;
        // DNS_RECORDW: pNext, pName, wType, wDataLength, Flags (DWORD), dwTtl, dwReserved, then the Data union.
        var name = Marshal.PtrToStringUni(Marshal.ReadIntPtr(record, p)) ?? "";
        var type = (ushort)Marshal.ReadInt16(record, 2 * p);
        var flags = (uint)Marshal.ReadInt32(record, 2 * p + 4);
        var ttl = (uint)Marshal.ReadInt32(record, 2 * p + 8);
        var data = record + 2 * p + 16;
        if ((flags & SectionMask) != SectionAnswer) return false;
        Span<byte> rdata = stackalloc byte[ushort.MaxValue];
        var rd = new DnsWriter(rdata);
        switch (type)
        {
            case DnsType.A:
                for (var i = 0; i < 4; i++) rd.Bytes([Marshal.ReadByte(data, i)]); // IP4_ADDRESS is in network order
                break;
            case DnsType.Aaaa:
                for (var i = 0; i < 16; i++) rd.Bytes([Marshal.ReadByte(data, i)]);
                break;
            case DnsType.Cname or DnsType.Ns or DnsType.Ptr:
                rd.Name(ReadString(data, 0));
                break;
            case DnsType.Mx:
                rd.UInt16((ushort)Marshal.ReadInt16(data, p));
                rd.Name(ReadString(data, 0));
                break;
            case DnsType.Srv:
                rd.UInt16((ushort)Marshal.ReadInt16(data, p));
                rd.UInt16((ushort)Marshal.ReadInt16(data, p + 2));
                rd.UInt16((ushort)Marshal.ReadInt16(data, p + 4));
                rd.Name(ReadString(data, 0));
                break;
            case DnsType.Txt:
                var count = Marshal.ReadInt32(data);
                for (var i = 0; i < count; i++)
                {
                    var bytes = Encoding.UTF8.GetBytes(ReadString(data, p + i * p));
                    // RFC 1035 §3.3.14: character-strings of at most 255 bytes; longer strings are split.
                    for (var o = 0; o < bytes.Length || (o == 0 && bytes.Length == 0); o += 255)
                    {
                        var chunk = bytes.AsSpan(o, Math.Min(255, bytes.Length - o));
                        rd.Bytes([(byte)chunk.Length]);
                        rd.Bytes(chunk);
                        if (bytes.Length == 0) break;
                    }
                }
                break;
            case DnsType.Soa:
                rd.Name(ReadString(data, 0));
                rd.Name(ReadString(data, p));
                for (var i = 0; i < 5; i++) rd.UInt32((uint)Marshal.ReadInt32(data, 2 * p + 4 * i));
                break;
            default:
                return false;
        }
        if (rd.Overflow) return false;
        w.Name(name);
        w.UInt16(type);
        w.UInt16(DnsType.ClassIn);
        w.UInt32(ttl);
        w.UInt16((ushort)rd.Position);
        w.Bytes(rdata[..rd.Position]);
        return true;
    }

    private static string ReadString(IntPtr data, int offset) => Marshal.PtrToStringUni(Marshal.ReadIntPtr(data, offset)) ?? "";
}
