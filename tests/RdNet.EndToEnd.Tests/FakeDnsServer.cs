using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RdNet.Transport.Linux;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// A tiny authoritative DNS server for the made-up zone <c>example.test.</c>, on 127.0.0.1 (UDP and TCP, same port)
/// inside a namespace the test created, standing in for the host's resolver. Written independently of RdNet's DNS
/// code so the two cannot share a mistake. Names: www (A 10.1.2.3, TTL 300), alias (CNAME www), the apex (MX, TXT),
/// _svc._tcp (SRV), big (ten 300-byte TXT records: more than any UDP limit); anything else is NXDOMAIN.
/// Over UDP an answer larger than the query's EDNS size (or 512) is sent empty with TC set, as real servers do.
/// </summary>
public sealed class FakeDnsServer : IDisposable
{
    public const string Zone = "example.test";
    public const int BigRecords = 10, BigRecordLength = 300;

    private readonly Socket _udp;
    private readonly Socket _tcp;
    private readonly CancellationTokenSource _cts = new();
    private int _queries;

    public FakeDnsServer(string netns)
    {
        (_udp, _tcp) = NetNamespace.RunIn(netns, () =>
        {
            var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            tcp.Listen(16);
            var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)tcp.LocalEndPoint!).Port));
            return (udp, tcp);
        });
        Port = ((IPEndPoint)_udp.LocalEndPoint!).Port;
        _ = ServeUdpAsync();
        _ = AcceptAsync();
    }

    public int Port { get; }
    public string Endpoint => $"127.0.0.1:{Port}";
    public int Queries => Volatile.Read(ref _queries);
    public int TcpQueries { get; private set; }

    private async Task ServeUdpAsync()
    {
        var buffer = new byte[65535];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_cts.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try { r = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, any, _cts.Token); }
            catch (Exception) { return; }
            var answer = Answer(buffer.AsSpan(0, r.ReceivedBytes), udp: true);
            if (answer is not null) await _udp.SendToAsync(answer, SocketFlags.None, r.RemoteEndPoint);
        }
    }

    private async Task AcceptAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket c;
            try { c = await _tcp.AcceptAsync(_cts.Token); }
            catch (Exception) { return; }
            _ = ServeTcpAsync(c);
        }
    }

    private async Task ServeTcpAsync(Socket c)
    {
        using (c)
        {
            var prefix = new byte[2];
            while (await ReadAsync(c, prefix))
            {
                var msg = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                if (!await ReadAsync(c, msg)) return;
                TcpQueries++;
                var answer = Answer(msg, udp: false);
                if (answer is null) return;
                var framed = new byte[2 + answer.Length];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                answer.CopyTo(framed, 2);
                await c.SendAsync(framed, SocketFlags.None);
            }
        }
    }

    private async Task<bool> ReadAsync(Socket c, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            int n;
            try { n = await c.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, _cts.Token); }
            catch (Exception) { return false; }
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    private byte[]? Answer(ReadOnlySpan<byte> q, bool udp)
    {
        Interlocked.Increment(ref _queries);
        if (q.Length < 12 || BinaryPrimitives.ReadUInt16BigEndian(q[4..]) != 1) return null;
        // The question: plain labels (a query has nothing to compress against).
        var pos = 12;
        var labels = new List<string>();
        while (pos < q.Length && q[pos] != 0)
        {
            labels.Add(Encoding.ASCII.GetString(q.Slice(pos + 1, q[pos])).ToLowerInvariant());
            pos += 1 + q[pos];
        }
        pos++;
        var qtype = BinaryPrimitives.ReadUInt16BigEndian(q[pos..]);
        var questionEnd = pos + 4;
        var name = string.Join('.', labels);
        var limit = 512;
        // EDNS: the OPT record in the additional section gives the client's UDP size.
        if (BinaryPrimitives.ReadUInt16BigEndian(q[10..]) > 0 && questionEnd + 11 <= q.Length && q[questionEnd] == 0
            && BinaryPrimitives.ReadUInt16BigEndian(q[(questionEnd + 1)..]) == 41)
            limit = Math.Max(512, (int)BinaryPrimitives.ReadUInt16BigEndian(q[(questionEnd + 3)..]));

        var records = new List<(ushort Type, uint Ttl, byte[] Data)>();
        var rcode = 0;
        switch (name, qtype)
        {
            case ("www." + Zone, 1): records.Add((1, 300, [10, 1, 2, 3])); break;
            case ("alias." + Zone, 1 or 5):
                records.Add((5, 120, Name("www." + Zone)));
                if (qtype == 1) records.Add((1, 300, [10, 1, 2, 3])); // owner fixed below
                break;
            case (Zone, 15): records.Add((15, 600, [0, 10, .. Name("mail." + Zone)])); break;
            case (Zone, 16): records.Add((16, 60, Txt("hello from the fake upstream"))); break;
            case ("_svc._tcp." + Zone, 33): records.Add((33, 30, [0, 0, 0, 5, 0x1F, 0x90, .. Name("www." + Zone)])); break;
            case ("big." + Zone, 16):
                for (var i = 0; i < BigRecords; i++) records.Add((16, 60, Txt(new string((char)('a' + i), BigRecordLength - 2))));
                break;
            case ("www." + Zone or "alias." + Zone or Zone or "_svc._tcp." + Zone or "big." + Zone, _): break; // NODATA
            default: rcode = 3; break;
        }
        var reply = new List<byte>(q[..questionEnd].ToArray());
        reply[2] = (byte)(0x84 | (q[2] & 0x01)); // QR, AA, RD copied
        reply[3] = (byte)rcode;
        var count = 0;
        foreach (var (type, ttl, data) in records)
        {
            var ownerIsWww = name == "alias." + Zone && type == 1;
            var rr = new List<byte>();
            if (ownerIsWww) rr.AddRange(Name("www." + Zone)); else rr.AddRange([0xC0, 12]);
            rr.AddRange([(byte)(type >> 8), (byte)type, 0, 1, (byte)(ttl >> 24), (byte)(ttl >> 16), (byte)(ttl >> 8), (byte)ttl, (byte)(data.Length >> 8), (byte)data.Length]);
            rr.AddRange(data);
            reply.AddRange(rr);
            count++;
        }
        reply[6] = (byte)(count >> 8);
        reply[7] = (byte)count;
        reply[8] = reply[9] = reply[10] = reply[11] = 0;
        if (udp && reply.Count > limit)
        {
            reply.RemoveRange(questionEnd, reply.Count - questionEnd);
            reply[2] |= 0x02; // TC
            reply[6] = reply[7] = 0;
        }
        return [.. reply];
    }

    private static byte[] Name(string name)
    {
        var b = new List<byte>();
        foreach (var l in name.Split('.'))
        {
            b.Add((byte)l.Length);
            b.AddRange(Encoding.ASCII.GetBytes(l));
        }
        b.Add(0);
        return [.. b];
    }

    private static byte[] Txt(string text)
    {
        var b = new List<byte>();
        var bytes = Encoding.ASCII.GetBytes(text);
        for (var o = 0; o < bytes.Length; o += 255)
        {
            var n = Math.Min(255, bytes.Length - o);
            b.Add((byte)n);
            b.AddRange(bytes.AsSpan(o, n).ToArray());
        }
        return [.. b];
    }

    public void Dispose()
    {
        _cts.Cancel();
        _udp.Dispose();
        _tcp.Dispose();
        _cts.Dispose();
    }
}
