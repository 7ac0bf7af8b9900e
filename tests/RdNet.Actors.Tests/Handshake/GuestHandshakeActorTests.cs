using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using RdNet.Actors.Handshake;
using RdNet.Transport.Buffers;
using RdNet.Transport.Handshake;
using RdNet.Transport.Links;
using static RdNet.Actors.Handshake.HandshakeProtocol;
using static RdNet.Actors.Switch.SwitchProtocol;

namespace RdNet.Actors.Tests.Handshake;

public sealed class GuestHandshakeActorTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnet-hg-").FullName;

    private LinkEndpoint HandshakeEndpoint => LinkEndpoint.Parse($"unix://{_dir}/hs.sock");
    private LinkEndpoint DataEndpoint => LinkEndpoint.Parse($"unix://{_dir}/data.sock");

    private static HandshakeSettings Fast(int dialAttempts = 3) => HandshakeSettings.Default with
    {
        Host = HostHandshakeActorTests.Fast(),
        ReadyTimeout = TimeSpan.FromMilliseconds(800),
        DataDialAttempts = dialAttempts,
        DataDialMinBackoff = TimeSpan.FromMilliseconds(50),
        DataDialMaxBackoff = TimeSpan.FromMilliseconds(100),
    };

    private IActorRef Guest(SignatureKind phrase = SignatureKind.Current, int dialAttempts = 3)
    {
        var actor = ChildActorOf(GuestHandshakeActor.Props(new GuestHandshakeConfig(HandshakeEndpoint, DataEndpoint, phrase, Fast(dialAttempts))));
        AwaitCondition(() => File.Exists(HandshakeEndpoint.Path), Wait);
        return actor;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    /// <summary>Connects to the guest and reads everything it sends until it closes or <paramref name="write"/> is done.</summary>
    private async Task<byte[]> Connect(byte[]? write, TimeSpan? delayBeforeWrite = null, bool closeAfterPhrase = false)
    {
        using var s = await HandshakeEndpoint.ConnectAsync(CancellationToken.None);
        var buf = new byte[HandshakeSignature.MaxPhraseLength];
        var got = 0;
        using var cts = new CancellationTokenSource(Wait);
        // Read the phrase: 53 or 60 bytes; stop at whichever completes.
        var matcher = new SignatureMatcher();
        while (matcher.State == MatchState.NeedMore)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(got, matcher.Wanted), SocketFlags.None, cts.Token);
            if (n == 0) { matcher.EndOfStream(); break; }
            matcher.Feed(buf.AsSpan(got, n));
            got += n;
        }
        if (closeAfterPhrase) return buf[..got];
        if (delayBeforeWrite is { } d) await Task.Delay(d);
        if (write is not null) await s.SendAsync(write);
        s.Shutdown(SocketShutdown.Send);
        // The guest closes after judging what we wrote (or at its ready timeout).
        var rest = new byte[16];
        while (await s.ReceiveAsync(rest, SocketFlags.None, cts.Token) > 0) { }
        return buf[..got];
    }

    [Theory]
    [InlineData(SignatureKind.Current, 60)]
    [InlineData(SignatureKind.Original, 53)]
    public async Task A_probe_reads_the_selected_phrase_and_READY_makes_the_guest_dial_the_data_endpoint(SignatureKind kind, int length)
    {
        using var data = DataEndpoint.Listen();
        Guest(kind);
        var phrase = await Connect(null, closeAfterPhrase: true);
        Assert.Equal(length, phrase.Length);
        Assert.Equal(HandshakeSignature.Phrase(kind).ToArray(), phrase);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        await Connect("READY"u8.ToArray());
        using var accepted = await data.AcceptAsync().WaitAsync(Wait);
        var up = ExpectMsg<DataLinkUp>(Wait);
        Assert.Equal(1, up.Handshake);
        // The socket handed to the parent is the data connection.
        await accepted.SendAsync(new byte[] { 42 });
        var b = new byte[1];
        Assert.Equal(1, await up.Socket.ReceiveAsync(b).WaitAsync(Wait));
        Assert.Equal(42, b[0]);
        up.Socket.Dispose();
    }

    [Fact]
    public async Task Something_other_than_READY_is_ignored_and_the_guest_keeps_answering()
    {
        using var data = DataEndpoint.Listen();
        Guest();
        await Connect("HELLO"u8.ToArray());
        await Connect("REA"u8.ToArray());
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        await Connect("READY"u8.ToArray());
        ExpectMsg<DataLinkUp>(Wait).Socket.Dispose();
    }

    [Fact]
    public async Task A_silent_connection_is_closed_at_the_ready_timeout_without_blocking_other_handshakes()
    {
        using var data = DataEndpoint.Listen();
        Guest();
        using var silent = await HandshakeEndpoint.ConnectAsync(CancellationToken.None);
        // While the silent one is open, a real handshake goes through.
        await Connect("READY"u8.ToArray());
        ExpectMsg<DataLinkUp>(Wait).Socket.Dispose();
        // The silent one gets the phrase, then EOF once the ready timeout (0.8 s) passed.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var buf = new byte[128];
        var total = 0;
        int n;
        while ((n = await silent.ReceiveAsync(buf.AsMemory(total)).AsTask().WaitAsync(Wait)) > 0) total += n;
        Assert.Equal(60, total);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_late_READY_within_the_timeout_still_completes_the_handshake()
    {
        using var data = DataEndpoint.Listen();
        Guest();
        await Connect("READY"u8.ToArray(), delayBeforeWrite: TimeSpan.FromMilliseconds(500));
        ExpectMsg<DataLinkUp>(Wait).Socket.Dispose();
    }

    [Fact]
    public async Task A_READY_after_the_timeout_is_not_taken()
    {
        using var data = DataEndpoint.Listen();
        Guest();
        using var s = await HandshakeEndpoint.ConnectAsync(CancellationToken.None);
        var buf = new byte[128];
        var total = 0;
        int n;
        // The phrase, then EOF: the guest gave up on this connection at its ready timeout (0.8 s).
        while ((n = await s.ReceiveAsync(buf.AsMemory(total)).AsTask().WaitAsync(Wait)) > 0) total += n;
        Assert.Equal(60, total);
        try { await s.SendAsync("READY"u8.ToArray()); } catch (SocketException) { /* closed: the late READY goes nowhere */ }
        ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task After_the_data_link_drops_the_next_handshake_brings_a_new_link()
    {
        using var data = DataEndpoint.Listen();
        Guest();
        await Connect("READY"u8.ToArray());
        var first = ExpectMsg<DataLinkUp>(Wait);
        first.Socket.Dispose();
        (await data.AcceptAsync()).Dispose();
        // host-switch redoes the whole handshake: probe, then READY.
        await Connect(null, closeAfterPhrase: true);
        await Connect("READY"u8.ToArray());
        var second = ExpectMsg<DataLinkUp>(Wait);
        Assert.Equal(2, second.Handshake);
        second.Socket.Dispose();
    }

    [Fact]
    public async Task Dialling_retries_are_bounded_and_end_in_a_clear_report()
    {
        Guest(dialAttempts: 3); // nothing listens on the data endpoint
        await Connect("READY"u8.ToArray());
        var gaveUp = ExpectMsg<DataDialGaveUp>(Wait);
        Assert.Contains("after 3 tries", gaveUp.Reason, StringComparison.Ordinal);
        Assert.Contains(DataEndpoint.ToString(), gaveUp.Reason, StringComparison.Ordinal);
        // Still answering: once the host listens, the next READY works.
        using var data = DataEndpoint.Listen();
        await Connect("READY"u8.ToArray());
        ExpectMsg<DataLinkUp>(Wait).Socket.Dispose();
    }
}

/// <summary>Both real sides, connected over unix sockets.</summary>
public sealed class HandshakeSidesTogetherTests : TestKit
{
    [Fact]
    public void Host_and_guest_actors_complete_the_handshake_and_redo_it_when_the_link_drops()
    {
        var dir = Directory.CreateTempSubdirectory("rdnet-hb-").FullName;
        try
        {
            var hs = LinkEndpoint.Parse($"unix://{dir}/hs.sock");
            var data = LinkEndpoint.Parse($"unix://{dir}/data.sock");
            var guestParent = CreateTestProbe();
            guestParent.ChildActorOf(GuestHandshakeActor.Props(new GuestHandshakeConfig(hs, data, SignatureKind.Original, HandshakeSettings.Default)));
            var router = CreateTestProbe();
            var host = ChildActorOf(HostHandshakeActor.Props(new HostHandshakeConfig(hs, data, HostHandshakeActorTests.Fast(), new LinkOptions()), router, new FramePool(16, 4000)));
            var attach = router.ExpectMsg<AttachLink>(TimeSpan.FromSeconds(10));
            Assert.Equal(SignatureKind.Original, ExpectMsg<VmLinkUp>().PeerSignature);
            var guestLink = guestParent.ExpectMsg<DataLinkUp>(TimeSpan.FromSeconds(10));

            // The guest's end closing ends the host's port; the host handshakes again and the guest dials again.
            var port = CreateTestProbe();
            host.Tell(new PortAttached(1, attach.Name, port));
            guestLink.Socket.Dispose();
            attach.Link.Dispose();
            Sys.Stop(port);
            ExpectMsg<VmLinkDown>();
            router.ExpectMsg<AttachLink>(TimeSpan.FromSeconds(10)).Link.Dispose();
            Assert.Equal(2, guestParent.ExpectMsg<DataLinkUp>(TimeSpan.FromSeconds(10)).Handshake);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
