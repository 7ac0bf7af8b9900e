using RdNet.Transport.Tcp;
using RdNet.Transport.Wire;
using static RdNet.Transport.Tests.Tcp.T;

namespace RdNet.Transport.Tests.Tcp;

/// <summary>Delayed acknowledgement on interactive connections (TcpConfig.DelayedAckMs), on an explicit clock (ms).</summary>
public class TcpDelayedAckTests
{
    private static readonly TcpConfig Delayed = new() { DelayedAckMs = 40 };

    /// <summary>A request the peer sends at <paramref name="now"/>, read at once by the application.</summary>
    private static void Request(TcpConnection c, Recorder o, ref SeqNum peer, SeqNum us, int bytes, long now)
    {
        c.Receive(Ack(peer, us, 65535, data: Bytes(bytes)), now, o);
        peer += bytes;
        c.Poll(now, o);
        c.ConsumeReceived(c.ReceivedCount);
    }

    /// <summary>Brings a connection into the interactive mode: a request ACKed at once, answered 1 ms later.</summary>
    private static (TcpConnection C, Recorder O, SeqNum Peer, SeqNum Us) Interactive(TcpConfig cfg)
    {
        var (c, o, _, peer, us) = Established(cfg);
        Request(c, o, ref peer, us, 10, 10);
        var ack = o.Single(); // not interactive yet: ACKed at once
        Assert.Equal(peer, ack.Ack);
        Assert.Empty(ack.Payload);
        c.Write(Bytes(20));
        c.Poll(11, o);
        Assert.Equal(20, o.Single().Payload.Length);
        us += 20;
        c.Receive(Ack(peer, us, 65535), 12, o);
        c.Poll(12, o);
        Assert.Empty(o.Take());
        return (c, o, peer, us);
    }

    [Fact]
    public void On_an_interactive_connection_the_ack_of_a_request_rides_on_the_answer()
    {
        var (c, o, peer, us) = Interactive(Delayed);
        for (long t = 100; t < 1100; t += 100)
        {
            Request(c, o, ref peer, us, 10, t);
            Assert.Empty(o.Take()); // no pure ACK
            Assert.Equal(t + 40, c.NextDeadline);
            c.Write(Bytes(20));
            c.Poll(t + 2, o);
            var answer = o.Single();
            Assert.Equal(20, answer.Payload.Length);
            Assert.Equal(peer, answer.Ack); // the request's ACK
            us += 20;
            c.Receive(Ack(peer, us, 65535), t + 3, o);
            c.Poll(t + 3, o);
            Assert.Empty(o.Take());
            Assert.Equal(TcpConnection.Never, c.NextDeadline); // the delayed-ACK timer went with the answer
        }
    }

    [Fact]
    public void An_unanswered_request_is_acked_when_the_timer_fires_and_the_next_one_at_once()
    {
        var (c, o, peer, us) = Interactive(Delayed);
        Request(c, o, ref peer, us, 10, 100);
        Assert.Empty(o.Take());
        c.Poll(139, o);
        Assert.Empty(o.Take());
        c.Poll(140, o);
        var ack = o.Single();
        Assert.Equal(peer, ack.Ack);
        Assert.Empty(ack.Payload);
        // The peer did not get its answer in time: the connection is no longer treated as interactive.
        Request(c, o, ref peer, us, 10, 200);
        Assert.Equal(peer, o.Single().Ack);
        // Answering promptly again makes it interactive again.
        c.Write(Bytes(5));
        c.Poll(201, o);
        Assert.Equal(5, o.Single().Payload.Length);
        us += 5;
        c.Receive(Ack(peer, us, 65535), 202, o);
        Request(c, o, ref peer, us, 10, 300);
        Assert.Empty(o.Take());
    }

    [Fact]
    public void Two_full_size_segments_are_acked_at_once_even_on_an_interactive_connection()
    {
        var (c, o, peer, us) = Interactive(Delayed);
        c.Receive(Ack(peer, us, 65535, data: Bytes(1460)), 100, o);
        c.Poll(100, o);
        Assert.Empty(o.Take());
        c.Receive(Ack(peer + 1460, us, 65535, data: Bytes(1460, 2)), 101, o);
        c.Poll(101, o);
        Assert.Equal(peer + 2920, o.Single().Ack);
    }

    [Fact]
    public void Out_of_order_data_a_filled_hole_and_a_fin_are_acked_at_once()
    {
        var (c, o, peer, us) = Interactive(Delayed);
        c.Receive(Ack(peer + 100, us, 65535, data: Bytes(50)), 100, o);
        c.Poll(100, o);
        Assert.Equal(peer, o.Single().Ack); // duplicate ACK for the hole
        c.Receive(Ack(peer, us, 65535, data: Bytes(100)), 101, o);
        c.Poll(101, o);
        Assert.Equal(peer + 150, o.Single().Ack); // the hole filled
        c.ConsumeReceived(c.ReceivedCount);
        c.Receive(Ack(peer + 150, us, 65535, data: Bytes(10), extra: TcpFlags.Fin), 102, o);
        c.Poll(102, o);
        Assert.Equal(peer + 161, o.Single().Ack);
    }

    [Fact]
    public void Without_a_delay_configured_every_request_is_acked_at_once()
    {
        var (c, o, peer, us) = Interactive(new TcpConfig());
        Request(c, o, ref peer, us, 10, 100);
        Assert.Equal(peer, o.Single().Ack);
    }
}
