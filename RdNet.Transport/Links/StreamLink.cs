using System.Net.Sockets;
using RdNet.Transport.Buffers;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Framing;

namespace RdNet.Transport.Links;

/// <summary>
/// A link over a connected stream socket (unix, TCP, AF_VSOCK, or an inherited fd) speaking the 2-byte LE
/// length-prefixed framing of <see cref="FrameCodec"/>. The reader parses frames straight out of one 64 KiB
/// receive buffer; the writer packs as many queued frames as fit into one send (batching matters ~6x on a unix socket).
/// </summary>
public sealed class StreamLink : FrameLink
{
    private readonly Socket _socket;
    // Frames packed for one send, written by whoever holds the write role; [_pendingStart, _pendingEnd) is not sent yet.
    private readonly byte[] _batch;
    private int _pendingStart, _pendingEnd;

    public StreamLink(Socket socket, string description, FramePool pool, LinkOptions options)
        : base(description, pool, options)
    {
        _socket = socket;
        if (options.MaxFrameLength > FrameCodec.MaxEncodableLength)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxFrameLength cannot exceed 65535 with a 16-bit prefix");
        _batch = new byte[Math.Max(options.WriteBatchBytes, options.MaxFrameLength + FrameCodec.PrefixLength)];
        // Synchronous sends (the inline writes) return WouldBlock instead of waiting; the async reads and writes are unaffected.
        socket.Blocking = false;
    }

    protected override async Task ReadLoopAsync(IFrameSink sink, CancellationToken ct)
    {
        var buffer = new byte[Math.Max(Options.ReadBufferBytes, Options.MaxFrameLength + FrameCodec.PrefixLength)];
        int start = 0, end = 0;
        while (!ct.IsCancellationRequested)
        {
            if (end == buffer.Length)
            {
                // Compact: the partial frame moves to the front (it is at most MaxFrameLength + 2 bytes).
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            var n = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (end > start)
                {
                    Stats.Drops.Increment(DropReason.FrameTruncatedAtEof);
                    EndReason = $"EOF in the middle of a frame ({end - start} bytes pending)";
                }
                return;
            }
            end += n;
            // The frames of one read are one burst: what they queue on other links is written at its end (FrameLink.Burst).
            using (Burst())
            {
                while (true)
                {
                    var pending = buffer.AsSpan(start, end - start);
                    if (!FrameCodec.TryReadLength(pending, Options.MaxFrameLength, out var len, out var reason))
                    {
                        if (reason == DropReason.None) break;
                        Stats.Drops.Increment(reason);
                        var raw = pending.Length >= 2 ? pending[0] | (pending[1] << 8) : -1;
                        throw new LinkProtocolException(reason, $"bad frame length prefix {raw} (allowed 1..{Options.MaxFrameLength})");
                    }
                    if (pending.Length < FrameCodec.PrefixLength + len) break;
                    var frame = Pool.TryRent(len);
                    if (frame is null)
                    {
                        Stats.Drops.Increment(DropReason.FramePoolExhausted);
                    }
                    else
                    {
                        pending.Slice(FrameCodec.PrefixLength, len).CopyTo(frame.Array);
                        frame.SetLength(len);
                        Stats.CountIn(len);
                        sink.Deliver(frame);
                    }
                    start += FrameCodec.PrefixLength + len;
                }
            }
            if (start == end) start = end = 0;
        }
    }

    protected override bool SupportsInlineWrites => true;

    protected override bool HasPendingWrite => _pendingStart < _pendingEnd;

    protected override async Task WriteQueuedAsync(CancellationToken ct)
    {
        while (HasPendingWrite || FillBatch())
        {
            while (_pendingStart < _pendingEnd)
                _pendingStart += await _socket.SendAsync(_batch.AsMemory(_pendingStart, _pendingEnd - _pendingStart), SocketFlags.None, ct).ConfigureAwait(false);
        }
    }

    protected override bool TryWriteInline()
    {
        while (HasPendingWrite || FillBatch())
        {
            while (_pendingStart < _pendingEnd)
            {
                int sent = _socket.Send(_batch.AsSpan(_pendingStart, _pendingEnd - _pendingStart), SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock) return false;
                if (error != SocketError.Success) throw new SocketException((int)error);
                _pendingStart += sent;
            }
        }
        return true;
    }

    /// <summary>Packs as many queued frames as fit into the batch buffer; false when the queue is empty.</summary>
    private bool FillBatch()
    {
        int used = 0, frames = 0;
        while (TryPeek(out var next) && used + FrameCodec.PrefixLength + next.Length <= _batch.Length)
        {
            TryDequeue(out var frame);
            used += FrameCodec.Encode(_batch.AsSpan(used), frame!.Span);
            frames++;
            frame.Release();
        }
        _pendingStart = 0;
        _pendingEnd = used;
        if (frames > 0) Stats.CountOut(frames, used);
        return frames > 0;
    }

    protected override void CloseTransport()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
    }
}
