using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Protocols.Dns;

namespace RdNet.Transport.Tests.Dns;

/// <summary>The stub-resolver client, against loopback servers the test runs (never the machine's resolver).</summary>
public sealed class NameserverUpstreamTests
{
    /// <summary>A loopback DNS server on UDP and TCP (same port) that answers with <c>udp</c> / <c>tcp</c>; null = silence.</summary>
    private sealed class LoopbackServer : IDisposable
    {
        private readonly Socket _udp = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly Socket _tcp = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _cts = new();

        public LoopbackServer(Func<byte[], byte[]?> udp, Func<byte[], byte[]?>? tcp = null)
        {
            _tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _tcp.Listen();
            _udp.Bind(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)_tcp.LocalEndPoint!).Port));
            EndPoint = (IPEndPoint)_udp.LocalEndPoint!;
            _ = Task.Run(async () =>
            {
                var buf = new byte[65535];
                while (!_cts.IsCancellationRequested)
                {
                    try
                    {
                        var r = await _udp.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _cts.Token);
                        UdpQueries++;
                        if (udp(buf[..r.ReceivedBytes]) is { } a) await _udp.SendToAsync(a, SocketFlags.None, r.RemoteEndPoint);
                    }
                    catch (Exception) { return; }
                }
            });
            _ = Task.Run(async () =>
            {
                while (!_cts.IsCancellationRequested)
                {
                    try
                    {
                        using var c = await _tcp.AcceptAsync(_cts.Token);
                        var prefix = new byte[2];
                        await NameserverUpstream.ReadExactlyAsync(c, prefix, _cts.Token);
                        var q = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                        await NameserverUpstream.ReadExactlyAsync(c, q, _cts.Token);
                        TcpQueries++;
                        if (tcp?.Invoke(q) is { } a)
                            await c.SendAsync((byte[])[(byte)(a.Length >> 8), (byte)a.Length, .. a], SocketFlags.None);
                    }
                    catch (Exception) { return; }
                }
            });
        }

        public IPEndPoint EndPoint { get; }
        public int UdpQueries { get; private set; }
        public int TcpQueries { get; private set; }

        public void Dispose()
        {
            _cts.Cancel();
            _udp.Dispose();
            _tcp.Dispose();
        }
    }

    private static readonly byte[] Query = DnsBytes.Query(0x5151, "www.example.test", DnsType.Txt);

    [Fact]
    public async Task A_truncated_udp_answer_is_asked_again_over_tcp()
    {
        var full = DnsBytes.Answer(Query, 0, Enumerable.Range(0, 5).Select(_ => (DnsType.Txt, 60u, DnsBytes.Txt(200))).ToArray());
        var truncated = DnsBytes.Answer(Query, 0);
        truncated[2] |= 0x02;
        using var server = new LoopbackServer(_ => truncated, _ => full);
        var upstream = new NameserverUpstream([server.EndPoint], TimeSpan.FromSeconds(2), 1);
        Assert.Equal(full, await upstream.QueryAsync(Query, CancellationToken.None));
        Assert.Equal(1, server.TcpQueries);
    }

    [Fact]
    public async Task A_silent_server_times_out_and_the_next_one_answers_with_its_nxdomain()
    {
        var nx = DnsBytes.Answer(Query, DnsRcode.NxDomain);
        using var silent = new LoopbackServer(_ => null);
        using var good = new LoopbackServer(_ => nx);
        var upstream = new NameserverUpstream([silent.EndPoint, good.EndPoint], TimeSpan.FromMilliseconds(300), 1);
        Assert.Equal(nx, await upstream.QueryAsync(Query, CancellationToken.None));
        Assert.Equal(1, silent.UdpQueries);
    }

    [Fact]
    public async Task Servfail_moves_on_and_is_returned_only_when_nobody_does_better()
    {
        var fail = DnsBytes.Answer(Query, DnsRcode.ServFail);
        var ok = DnsBytes.Answer(Query, 0, (DnsType.Txt, 5, DnsBytes.Txt(10)));
        using var bad = new LoopbackServer(_ => fail);
        using var good = new LoopbackServer(_ => ok);
        Assert.Equal(ok, await new NameserverUpstream([bad.EndPoint, good.EndPoint], TimeSpan.FromSeconds(1), 1).QueryAsync(Query, CancellationToken.None));
        Assert.Equal(fail, await new NameserverUpstream([bad.EndPoint], TimeSpan.FromSeconds(1), 2).QueryAsync(Query, CancellationToken.None));
    }

    [Fact]
    public async Task An_answer_with_another_id_is_ignored_and_silence_is_an_error()
    {
        var wrong = DnsBytes.Answer(DnsBytes.Query(0x0001, "www.example.test", DnsType.Txt), 0);
        using var liar = new LoopbackServer(_ => wrong);
        var upstream = new NameserverUpstream([liar.EndPoint], TimeSpan.FromMilliseconds(200), 2);
        await Assert.ThrowsAsync<DnsUpstreamException>(() => upstream.QueryAsync(Query, CancellationToken.None));
        Assert.Equal(2, liar.UdpQueries);
    }
}
