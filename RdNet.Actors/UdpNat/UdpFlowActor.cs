using System.Net.Sockets;
using Akka.Actor;
using RdNet.Actors.Infrastructure;
using Akka.Event;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Links;
using RdNet.Transport.Udp;
using RdNet.Transport.Wire;
using static RdNet.Actors.UdpNat.UdpProtocol;

namespace RdNet.Actors.UdpNat;

/// <summary>Everything a flow actor is started with. The flow owns <see cref="Socket"/> (already connected) and disposes it.</summary>
/// <param name="MaxPayload">Largest reply payload that fits one frame at the MTU (MTU − 28).</param>
public sealed record UdpFlowStart(
    UdpFlowKey Key,
    Socket Socket,
    MacAddress GatewayMac,
    IFrameSink Sink,
    FramePool Pool,
    DropCounters Drops,
    int MaxPayload,
    TimeSpan IdleTimeout);

/// <summary>
/// One UDP flow (guest address/port → destination address/port) on one connected host socket, as the original's
/// per-flow proxy (spec §5.4), with its faults fixed: datagrams from the guest are sent on the socket; whatever the
/// socket receives (only from the connected peer) goes back to the guest as a datagram from the destination the
/// guest addressed; an ICMP error the host reports on the socket (ECONNREFUSED and friends) becomes the matching ICMP
/// destination-unreachable to the guest. The flow stops itself after the idle timeout with no datagram in either
/// direction, and closes its socket when it stops for any reason.
/// </summary>
public sealed class UdpFlowActor : GuestFrameActor, IWithTimers
{
    // RFC 1122 §3.2.2.1 destination-unreachable codes for what the host's socket reports.
    private const byte NetUnreachable = 0, HostUnreachable = 1, PortUnreachable = 3;

    private readonly UdpFlowStart _s;
    private readonly byte[] _receive;
    private readonly byte[] _quote = new byte[NatFrames.MaxQuoteLength];
    private readonly CancellationTokenSource _stop = new();
    private int _quoteLength;
    private MacAddress _guestMac;
    private DateTimeOffset _lastActivity;
    private ushort _ipId;

    public ITimerScheduler Timers { get; set; } = null!;

    // Completions that arrive after the flow stopped are expected: not worth a dead-letter log line.
    private sealed record Received(int Length) : IDeadLetterSuppression;

    private sealed record ReceiveFailed(Exception Cause) : IDeadLetterSuppression;

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    public UdpFlowActor(UdpFlowStart start)
    {
        _s = start;
        // One byte more than fits a frame, so that a reply too large to deliver is seen as such.
        _receive = new byte[start.MaxPayload + 1];
        Receive<GuestDatagram>(OnGuestDatagram);
        Receive<Received>(OnReceived);
        Receive<ReceiveFailed>(OnReceiveFailed);
        Receive<IdleCheck>(_ => OnIdleCheck());
    }

    private DateTimeOffset Now => Context.System.Scheduler.Now;

    protected override void PreStart()
    {
        _lastActivity = Now;
        Timers.StartSingleTimer("idle", IdleCheck.Instance, _s.IdleTimeout);
        ReceiveNext();
    }

    protected override void PostStop()
    {
        _stop.Cancel();
        _s.Socket.Dispose();
        _stop.Dispose();
    }

    private void OnGuestDatagram(GuestDatagram d)
    {
        try
        {
            _lastActivity = Now;
            _guestMac = d.GuestMac;
            _quoteLength = Math.Min(d.QuoteLength, _quote.Length);
            d.Frame.Array.AsSpan(d.QuoteOffset, _quoteLength).CopyTo(_quote);
            _s.Socket.Send(d.Frame.Array.AsSpan(d.PayloadOffset, d.PayloadLength), SocketFlags.None, out var error);
            if (error == SocketError.Success) return;
            // An ICMP error for an earlier datagram is reported on the next call, and this datagram is not sent.
            if (!SendUnreachable(error)) _s.Drops.Increment(DropReason.UdpHostSendFailed);
        }
        finally
        {
            d.Frame.Release();
        }
    }

    private void ReceiveNext()
    {
        _s.Socket.ReceiveAsync(_receive.AsMemory(), SocketFlags.None, _stop.Token).AsTask()
            .PipeTo(Self, success: n => new Received(n), failure: e => new ReceiveFailed(e));
    }

    private void OnReceived(Received r)
    {
        _lastActivity = Now;
        if (r.Length > _s.MaxPayload) _s.Drops.Increment(DropReason.UdpReplyTooLarge);
        else if (_guestMac != default) DeliverReply(_receive.AsSpan(0, r.Length));
        ReceiveNext();
    }

    private void DeliverReply(ReadOnlySpan<byte> payload)
    {
        var frame = Rent(NatFrames.UdpOverhead + payload.Length);
        if (frame is null) return;
        var k = _s.Key;
        var n = NatFrames.WriteUdp(frame.Array, _guestMac, _s.GatewayMac, k.Destination, k.DestinationPort, k.Guest, k.GuestPort, payload, _ipId++);
        frame.SetLength(n);
        _s.Sink.Deliver(frame);
    }

    private void OnReceiveFailed(ReceiveFailed f)
    {
        if (_stop.IsCancellationRequested) return;
        var error = (f.Cause as SocketException ?? f.Cause.InnerException as SocketException)?.SocketErrorCode;
        switch (error)
        {
            case SocketError.MessageSize:
                _s.Drops.Increment(DropReason.UdpReplyTooLarge);
                break;
            case { } e when SendUnreachable(e):
                break;
            default:
                // Not a per-datagram condition: let the NAT stop this flow (the next datagram opens a fresh one).
                throw new IOException($"UDP flow {_s.Key}: receive failed", f.Cause);
        }
        ReceiveNext();
    }

    /// <summary>Turns an ICMP error the host reported on the socket into the same error to the guest.</summary>
    private bool SendUnreachable(SocketError error)
    {
        byte code;
        switch (error)
        {
            case SocketError.ConnectionRefused: code = PortUnreachable; break;
            case SocketError.HostUnreachable: code = HostUnreachable; break;
            case SocketError.NetworkUnreachable: code = NetUnreachable; break;
            default: return false;
        }
        // Nothing sent yet means nothing to quote (and no guest MAC to send to).
        if (_quoteLength == 0) return true;
        var frame = Rent(NatFrames.UnreachableLength(_quoteLength));
        if (frame is null) return true;
        var n = NatFrames.WriteUnreachable(frame.Array, _guestMac, _s.GatewayMac, _s.Key.Destination, _s.Key.Guest, code,
            _quote.AsSpan(0, _quoteLength), _ipId++);
        frame.SetLength(n);
        _s.Sink.Deliver(frame);
        return true;
    }

    private void OnIdleCheck()
    {
        var idle = Now - _lastActivity;
        if (idle >= _s.IdleTimeout)
        {
            Context.Stop(Self);
            return;
        }
        Timers.StartSingleTimer("idle", IdleCheck.Instance, _s.IdleTimeout - idle);
    }

    private FrameBuffer? Rent(int length)
    {
        if (length > _s.Pool.BufferSize)
        {
            _s.Drops.Increment(DropReason.UdpReplyTooLarge);
            return null;
        }
        var b = _s.Pool.TryRent(length);
        if (b is null) _s.Drops.Increment(DropReason.FramePoolExhausted);
        return b;
    }

    public static Props Props(UdpFlowStart start) => Akka.Actor.Props.Create(() => new UdpFlowActor(start));
}
