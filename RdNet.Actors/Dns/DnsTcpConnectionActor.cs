using System.Buffers.Binary;
using System.Net.Sockets;
using Akka.Actor;
using RdNet.Transport.Diagnostics;
using static RdNet.Actors.Dns.DnsProtocol;

namespace RdNet.Actors.Dns;

/// <summary>
/// One DNS-over-TCP connection (RFC 7766, RFC 1035 §4.2.2): messages with a 2-byte big-endian length prefix.
/// Queries are read one after another and handed to the DNS service while earlier ones are still being resolved
/// (pipelining, §6.2.1.1); answers are written whole, each as soon as it is ready (possibly out of order, which
/// §7 allows: clients match by ID). At most <c>maxPipelined</c> queries are in flight: beyond that, reading waits.
/// The connection closes after the client's EOF once everything is answered, after a zero length prefix, on a
/// write error, or after <c>idleTimeout</c> with nothing in flight.
/// </summary>
public sealed class DnsTcpConnectionActor : ReceiveActor, IWithTimers
{
    private readonly Socket _socket;
    private readonly IActorRef _service;
    private readonly int _maxPipelined;
    private readonly TimeSpan _idleTimeout;
    private readonly DropCounters _drops;
    private readonly CancellationTokenSource _cts = new();
    private readonly Queue<byte[]> _writes = new();
    private long _nextTag;
    private int _inFlight;
    private bool _reading;
    private bool _writing;
    private bool _eof;

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record Read(byte[]? Message);

    private sealed record ReadFailed(Exception Error);

    private sealed record Written
    {
        public static readonly Written Instance = new();
    }

    private sealed record WriteFailed(Exception Error);

    private sealed record Idle
    {
        public static readonly Idle Instance = new();
    }

    public DnsTcpConnectionActor(Socket socket, IActorRef service, int maxPipelined, TimeSpan idleTimeout, DropCounters drops)
    {
        _socket = socket;
        _service = service;
        _maxPipelined = maxPipelined;
        _idleTimeout = idleTimeout;
        _drops = drops;

        Receive<Read>(r =>
        {
            _reading = false;
            if (r.Message is null)
            {
                _eof = true;
                MaybeClose();
                return;
            }
            _inFlight++;
            _service.Tell(new Resolve(_nextTag++, r.Message));
            ArmIdle();
            ReadNext();
        });
        Receive<ReadFailed>(f =>
        {
            _reading = false;
            if (f.Error is InvalidDataException) _drops.Increment(DropReason.DnsTcpLengthZero);
            _eof = true;
            MaybeClose();
        });
        Receive<Resolved>(r =>
        {
            _inFlight--;
            if (r.Reply.Length > 0)
            {
                var framed = new byte[2 + r.Reply.Length];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)r.Reply.Length);
                r.Reply.CopyTo(framed, 2);
                _writes.Enqueue(framed);
                WriteNext();
            }
            ArmIdle();
            ReadNext();
            MaybeClose();
        });
        Receive<Written>(_ =>
        {
            _writing = false;
            WriteNext();
            MaybeClose();
        });
        Receive<WriteFailed>(_ => Context.Stop(Self));
        Receive<Idle>(_ =>
        {
            if (_inFlight == 0 && !_writing) Context.Stop(Self);
        });
    }

    protected override void PreStart()
    {
        ArmIdle();
        ReadNext();
    }

    protected override void PostStop()
    {
        _cts.Cancel();
        _cts.Dispose();
        _socket.Dispose();
    }

    private void ArmIdle() => Timers.StartSingleTimer("idle", Idle.Instance, _idleTimeout);

    private void ReadNext()
    {
        if (_reading || _eof || _inFlight >= _maxPipelined) return;
        _reading = true;
        ReadMessageAsync(_socket, _cts.Token).PipeTo(Self, success: m => new Read(m), failure: e => new ReadFailed(e));
    }

    private void WriteNext()
    {
        if (_writing || _writes.Count == 0) return;
        _writing = true;
        var data = _writes.Dequeue();
        _socket.SendAsync(data, SocketFlags.None, _cts.Token).AsTask()
            .PipeTo(Self, success: _ => Written.Instance, failure: e => new WriteFailed(e));
    }

    private void MaybeClose()
    {
        if (!_eof || _inFlight > 0 || _writing || _writes.Count > 0) return;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // already gone
        }
        Context.Stop(Self);
    }

    /// <summary>The next message, or null at a clean EOF between messages; a zero length or an EOF inside a message throws.</summary>
    private static async Task<byte[]?> ReadMessageAsync(Socket socket, CancellationToken ct)
    {
        var prefix = new byte[2];
        var n = await socket.ReceiveAsync(prefix, SocketFlags.None, ct).ConfigureAwait(false);
        if (n == 0) return null;
        if (n == 1 && !await Transport.Protocols.Dns.NameserverUpstream.ReadExactlyAsync(socket, prefix.AsMemory(1), ct).ConfigureAwait(false))
            throw new EndOfStreamException("EOF inside a length prefix");
        var length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        if (length == 0) throw new InvalidDataException("zero length prefix");
        var message = new byte[length];
        if (!await Transport.Protocols.Dns.NameserverUpstream.ReadExactlyAsync(socket, message, ct).ConfigureAwait(false))
            throw new EndOfStreamException("EOF inside a message");
        return message;
    }

    public static Props Props(Socket socket, IActorRef service, int maxPipelined, TimeSpan idleTimeout, DropCounters drops) =>
        Akka.Actor.Props.Create(() => new DnsTcpConnectionActor(socket, service, maxPipelined, idleTimeout, drops));
}
