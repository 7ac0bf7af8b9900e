using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>Where forwarded queries go: one DNS message in, the upstream's answer (a whole DNS message) out.</summary>
public interface IDnsUpstream
{
    /// <summary>Resolves <paramref name="query"/> (a complete message with its ID); throws on failure or cancellation.</summary>
    Task<byte[]> QueryAsync(ReadOnlyMemory<byte> query, CancellationToken cancellationToken);

    string Describe();
}

/// <summary>An upstream that gave no usable answer (every server timed out, refused or sent garbage).</summary>
public sealed class DnsUpstreamException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Plain DNS to a list of nameservers, the way a stub resolver does it: UDP first, each server in turn for
/// <c>attempts</c> rounds with <c>timeout</c> per try; an answer with TC set is asked again over TCP on the same
/// server (RFC 7766 §5), so the caller always gets the whole answer. SERVFAIL and REFUSED move on to the next server
/// and are returned only if no server does better; every other RCODE (NXDOMAIN included) is the answer.
/// </summary>
public sealed class NameserverUpstream(IReadOnlyList<IPEndPoint> servers, TimeSpan timeout, int attempts) : IDnsUpstream
{
    private const int MaxUdpAnswer = 65535;

    public IReadOnlyList<IPEndPoint> Servers { get; } = servers.Count > 0 ? servers : throw new ArgumentException("no nameservers", nameof(servers));

    public string Describe() => string.Join(", ", Servers);

    public async Task<byte[]> QueryAsync(ReadOnlyMemory<byte> query, CancellationToken cancellationToken)
    {
        if (query.Length < DnsMessage.HeaderLength) throw new ArgumentException("not a DNS message", nameof(query));
        var id = BinaryPrimitives.ReadUInt16BigEndian(query.Span);
        byte[]? fallback = null;
        Exception? last = null;
        for (var round = 0; round < Math.Max(1, attempts); round++)
        {
            foreach (var server in Servers)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    var answer = await UdpAsync(server, query, id, cancellationToken).ConfigureAwait(false);
                    if (answer is null) continue; // timed out
                    if ((answer[2] & 0x02) != 0) // TC
                        answer = await TcpAsync(server, query, id, cancellationToken).ConfigureAwait(false) ?? answer;
                    var rcode = answer[3] & 0x0F;
                    if (rcode is DnsRcode.ServFail or DnsRcode.Refused)
                    {
                        fallback = answer;
                        continue;
                    }
                    return answer;
                }
                catch (SocketException e)
                {
                    last = e; // ICMP unreachable and the like: the next server
                }
            }
        }
        return fallback ?? throw new DnsUpstreamException($"no answer from {Describe()}", last);
    }

    private async Task<byte[]?> UdpAsync(IPEndPoint server, ReadOnlyMemory<byte> query, ushort id, CancellationToken ct)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(server, ct).ConfigureAwait(false);
        await socket.SendAsync(query, SocketFlags.None, ct).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var buffer = new byte[MaxUdpAnswer];
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                // A connected socket only hears from the server; a stale or forged ID is ignored (RFC 5452 §9.1).
                if (n >= DnsMessage.HeaderLength && BinaryPrimitives.ReadUInt16BigEndian(buffer) == id)
                    return buffer[..n];
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<byte[]?> TcpAsync(IPEndPoint server, ReadOnlyMemory<byte> query, ushort id, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server, cts.Token).ConfigureAwait(false);
            var framed = new byte[2 + query.Length];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
            query.CopyTo(framed.AsMemory(2));
            await socket.SendAsync(framed, SocketFlags.None, cts.Token).ConfigureAwait(false);
            var prefix = new byte[2];
            if (!await ReadExactlyAsync(socket, prefix, cts.Token).ConfigureAwait(false)) return null;
            var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
            if (answer.Length < DnsMessage.HeaderLength || !await ReadExactlyAsync(socket, answer, cts.Token).ConfigureAwait(false)) return null;
            return BinaryPrimitives.ReadUInt16BigEndian(answer) == id ? answer : null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return null; // keep the truncated UDP answer
        }
    }

    public static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }
}

/// <summary>
/// The Linux host's own resolver: the nameservers of <c>/etc/resolv.conf</c>, re-read whenever the file's
/// modification time changes (NetworkManager, VPN clients and resolvconf rewrite it while we run).
/// </summary>
public sealed class ResolvConfUpstream(string path) : IDnsUpstream
{
    private readonly Lock _lock = new();
    private DateTime _mtime = DateTime.MinValue;
    private NameserverUpstream? _current;

    public string Path { get; } = path;

    public string Describe() => $"{Path} ({Current().Describe()})";

    public Task<byte[]> QueryAsync(ReadOnlyMemory<byte> query, CancellationToken cancellationToken) =>
        Current().QueryAsync(query, cancellationToken);

    private NameserverUpstream Current()
    {
        DateTime mtime;
        try
        {
            mtime = File.GetLastWriteTimeUtc(Path);
        }
        catch (IOException)
        {
            mtime = DateTime.MinValue;
        }
        lock (_lock)
        {
            if (_current is null || mtime != _mtime)
            {
                string text;
                try
                {
                    text = File.ReadAllText(Path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    text = ""; // as the C library does: no file means the local nameserver
                }
                var conf = ResolvConf.Parse(text);
                _current = new NameserverUpstream(conf.Nameservers, conf.Timeout, conf.Attempts);
                _mtime = mtime;
            }
            return _current;
        }
    }
}
