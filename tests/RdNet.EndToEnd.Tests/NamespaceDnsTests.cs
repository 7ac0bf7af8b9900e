using RdNet.Transport.Linux;

namespace RdNet.EndToEnd.Tests;

/// <summary>
/// DNS on the gateway as a guest uses it (issue #3): host-switch in its loopback-only namespace with
/// <c>--dns-upstream</c> pointing at a fake server on 127.0.0.1 in that same namespace; <c>dig</c> in the guest
/// namespace asks 192.168.127.1 after udhcpc got the lease. Nothing leaves the namespaces the test made.
/// </summary>
public sealed class NamespaceDnsTests
{
    private static async Task<(NetworkSandbox Sandbox, FakeDnsServer Upstream)> StartAsync(params string[] extra)
    {
        var sb = new NetworkSandbox();
        var upstream = new FakeDnsServer(sb.HostNs);
        try
        {
            sb.StartHostSwitch(["--dns-upstream", upstream.Endpoint, .. extra]);
            Assert.True(await Harness.WaitUntil(() => File.Exists(sb.SocketPath), TimeSpan.FromSeconds(30)), $"host-switch never listened\n{sb.Diagnostics()}");
            sb.StartVmSwitch();
            var ok = await Harness.WaitUntil(() => sb.InGuest("ip", "-4", "-o", "addr", "show", "dev", "eth0").Stdout.Contains("inet 192.168.127.2/24 ", StringComparison.Ordinal), TimeSpan.FromSeconds(40));
            Assert.True(ok, $"eth0 never got its lease\n{sb.Diagnostics()}");
            return (sb, upstream);
        }
        catch
        {
            upstream.Dispose();
            sb.Dispose();
            throw;
        }
    }

    private static CommandResult Dig(NetworkSandbox sb, params string[] args) =>
        sb.InGuest(["dig", "@192.168.127.1", "+time=3", "+tries=1", .. args]);

    private static string Short(NetworkSandbox sb, params string[] args)
    {
        var r = Dig(sb, [.. args, "+short"]);
        Assert.True(r.ExitCode == 0, $"dig {string.Join(' ', args)}: {r}\n{sb.Diagnostics()}");
        return r.Stdout.Trim();
    }

    [Fact]
    public async Task The_guest_resolves_local_zones_and_upstream_records_through_the_gateway()
    {
        var (sb, upstream) = await StartAsync();
        using var _ = sb;
        using var __ = upstream;

        // Local zones, any case (RFC 4343), answered by the gateway itself.
        Assert.Equal("192.168.127.254", Short(sb, "host.rancher-desktop.internal"));
        Assert.Equal("192.168.127.1", Short(sb, "gateway.docker.internal"));
        Assert.Equal("192.168.127.254", Short(sb, "HoSt.DoCkEr.InTeRnAl"));
        Assert.Equal("192.168.127.1", Short(sb, "gateway.rancher-desktop.internal", "+noedns"));
        var nope = Dig(sb, "nope.docker.internal");
        Assert.Contains("status: NXDOMAIN", nope.Stdout, StringComparison.Ordinal);
        Assert.Contains("flags: qr aa rd ra", nope.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, upstream.Queries);

        // The fake upstream's records, every type, with its TTLs.
        var www = Dig(sb, "www.example.test", "+noall", "+answer");
        Assert.Matches(@"www\.example\.test\.\s+300\s+IN\s+A\s+10\.1\.2\.3", www.Stdout);
        Assert.Equal("www.example.test.\n10.1.2.3", Short(sb, "alias.example.test"));
        Assert.Equal("www.example.test.", Short(sb, "alias.example.test", "CNAME"));
        Assert.Equal("10 mail.example.test.", Short(sb, "example.test", "MX"));
        Assert.Equal("\"hello from the fake upstream\"", Short(sb, "example.test", "TXT"));
        Assert.Equal("0 5 8080 www.example.test.", Short(sb, "_svc._tcp.example.test", "SRV"));

        // AAAA: an empty NOERROR (no IPv6 in the virtual network), for upstream and local names alike.
        var aaaa = Dig(sb, "www.example.test", "AAAA");
        Assert.Contains("status: NOERROR", aaaa.Stdout, StringComparison.Ordinal);
        Assert.Contains("ANSWER: 0,", aaaa.Stdout, StringComparison.Ordinal);
        Assert.Contains("status: NOERROR", Dig(sb, "host.docker.internal", "AAAA").Stdout, StringComparison.Ordinal);

        // The upstream's NXDOMAIN is kept, not flattened.
        Assert.Contains("status: NXDOMAIN", Dig(sb, "unknown.example.test").Stdout, StringComparison.Ordinal);

        // EDNS: the reply carries an OPT with our size.
        Assert.Contains("udp: 1232", Dig(sb, "www.example.test", "+bufsize=4096").Stdout, StringComparison.Ordinal);
    }

    private static int Size(CommandResult dig) =>
        int.Parse(System.Text.RegularExpressions.Regex.Match(dig.Stdout, @"MSG SIZE  rcvd: (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_large_answer_over_udp_is_truncated_at_a_record_boundary_with_tc()
    {
        var (sb, upstream) = await StartAsync();
        using var _ = sb;
        using var __ = upstream;

        // EDNS 1232 (dig's default): header, question, three whole 312-byte records and the OPT fit; TC set.
        var edns = Dig(sb, "big.example.test", "TXT", "+ignore", "+notcp");
        Assert.True(edns.ExitCode == 0, edns.ToString());
        Assert.True(edns.Stdout.Contains("ANSWER: 3,", StringComparison.Ordinal), edns.Stdout);
        Assert.Matches(@"flags: qr aa tc rd ra;", edns.Stdout);
        Assert.Contains("ANSWER: 3,", edns.Stdout, StringComparison.Ordinal);
        Assert.InRange(Size(edns), 3 * 312, 1232);

        // No EDNS: the classic 512-byte limit, one record.
        var classic = Dig(sb, "big.example.test", "TXT", "+ignore", "+notcp", "+noedns");
        Assert.Matches(@"flags: qr aa tc rd ra;", classic.Stdout);
        Assert.Contains("ANSWER: 1,", classic.Stdout, StringComparison.Ordinal);
        Assert.InRange(Size(classic), 312, 512);

        // Our upstream client fetched the whole answer over TCP after the fake's own TC.
        Assert.True(upstream.TcpQueries >= 1, "the upstream TC answer was not retried over TCP");
    }

    [Fact]
    public async Task Dns_over_tcp_reaches_the_gateway_through_the_tcp_stack_and_answers_whole()
    {
        var (sb, upstream) = await StartAsync();
        using var _ = sb;
        using var __ = upstream;

        // dig +tcp: the guest's TCP connection to .1:53 is accepted by the user-space TCP stack and served by DNS.
        Assert.Equal("192.168.127.254", Short(sb, "host.rancher-desktop.internal", "+tcp"));
        var big = Dig(sb, "big.example.test", "TXT", "+tcp");
        Assert.True(big.ExitCode == 0, $"{big}\n{sb.Diagnostics()}");
        Assert.Contains("ANSWER: 10,", big.Stdout, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"flags:[a-z ]* tc", big.Stdout);
        Assert.InRange(Size(big), 10 * 312, 65535);

        // Plain dig gets TC over UDP and retries over TCP by itself: the whole answer again.
        var fallback = Dig(sb, "big.example.test", "TXT");
        Assert.Contains("ANSWER: 10,", fallback.Stdout, StringComparison.Ordinal);

        // Several queries on one kept-open TCP connection.
        var kept = Dig(sb, "+tcp", "+keepopen", "+short", "host.docker.internal", "gateway.docker.internal", "www.example.test");
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.Equal("192.168.127.254\n192.168.127.1\n10.1.2.3", kept.Stdout.Trim());
    }

    [Fact]
    public async Task Malformed_and_unanswerable_queries_do_not_stop_the_dns_service()
    {
        var (sb, upstream) = await StartAsync();
        using var _ = sb;
        using var __ = upstream;

        // Queries dig can make that we do not serve: an unknown opcode and an EDNS version we do not speak.
        var notify = Dig(sb, "+opcode=notify", "www.example.test");
        Assert.Contains("status: NOTIMP", notify.Stdout, StringComparison.Ordinal);
        var badVers = Dig(sb, "+edns=1", "+noednsnegotiation", "www.example.test");
        Assert.Contains("status: BADVERS", badVers.Stdout, StringComparison.Ordinal);
        Assert.Equal("10.1.2.3", Short(sb, "www.example.test"));

        // Hostile bytes from a guest socket (RELIABILITY row 7): a compression pointer loop and a label over 63
        // bytes get FORMERR, a runt gets nothing; the service answers the next query.
        using var guest = NetNamespace.RunIn(sb.GuestNs, () =>
        {
            var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            s.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("192.168.127.1"), 53));
            return s;
        });
        guest.ReceiveTimeout = 3000;
        var buffer = new byte[512];
        guest.Send([0x77, 0x01, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]);
        Assert.Equal(12, guest.Receive(buffer));
        Assert.Equal([0x77, 0x01, 0x81, 0x81], buffer[..4]); // same ID, QR RD / RA FORMERR
        guest.Send([0x77, 0x02, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x50, 1, 2, 3]);
        Assert.Equal(12, guest.Receive(buffer));
        Assert.Equal(1, buffer[3] & 0x0F);
        guest.Send([1, 2, 3]);
        Assert.Equal("192.168.127.1", Short(sb, "gateway.docker.internal"));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("localhost:53")]
    [InlineData("::1:53")]
    public void A_bad_dns_upstream_fails_naming_the_expected_format(string value)
    {
        var r = Harness.Run(Harness.RdnetPath, ["host-switch", "--dns-upstream", value]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("expected IP:PORT like 127.0.0.1:53 or [::1]:53", r.Stdout + r.Stderr, StringComparison.Ordinal);
        Assert.Contains("--dns-upstream", Harness.Run(Harness.RdnetPath, ["host-switch", "--help"]).Stdout, StringComparison.Ordinal);
    }
}
