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
    // Off Windows the socket never meets .NET's socket engine: the engine watches a socket for input and for room
    // (edge-triggered, both at once), so every time the peer drained what we sent it woke its thread for nothing — one
    // wasted wake-up per frame each way. Here the reader waits for input only (poll on a thread of its own), and the
    // writer waits for room only when a send would block.
    private readonly bool _polled;
    private const int PollMicroseconds = 200_000;

    public StreamLink(Socket socket, string description, FramePool pool, LinkOptions options, StreamLinkIo io = StreamLinkIo.Default)
        : base(description, pool, options)
    {
        _socket = socket;
        _polled = io == StreamLinkIo.Polled || (io == StreamLinkIo.Default && !OperatingSystem.IsWindows());
        if (options.MaxFrameLength > FrameCodec.MaxEncodableLength)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxFrameLength cannot exceed 65535 with a 16-bit prefix");
        _batch = new byte[Math.Max(options.WriteBatchBytes, options.MaxFrameLength + FrameCodec.PrefixLength)];
        // Synchronous sends (the inline writes) return WouldBlock instead of waiting; the async reads and writes are unaffected.
        socket.Blocking = false;
    }

    protected override Task ReadLoopAsync(IFrameSink sink, CancellationToken ct)
    {
        if (!_polled) return ReadLoopEngineAsync(sink, ct);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ReadLoopPolled(sink, ct);
                done.TrySetResult();
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        { IsBackground = true, Name = "link-reader" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Reads with the socket engine (Windows): each receive completes on the engine's thread.</summary>
    private async Task ReadLoopEngineAsync(IFrameSink sink, CancellationToken ct)
    {
        var reader = new Reader(this, sink);
        while (!ct.IsCancellationRequested)
        {
            var n = await _socket.ReceiveAsync(reader.Free, SocketFlags.None, ct).ConfigureAwait(false);
            if (!reader.Received(n)) return;
        }
    }

    /// <summary>
    /// Reads on this thread: wait until the socket has input (poll), one receive, parse. One poll and one receive per
    /// wake-up; a read that filled the buffer is followed by the next receive at once.
    /// </summary>
    private void ReadLoopPolled(IFrameSink sink, CancellationToken ct)
    {
        var reader = new Reader(this, sink);
        bool mayHaveMore = false;
        while (!ct.IsCancellationRequested)
        {
            if (!mayHaveMore && !_socket.Poll(PollMicroseconds, SelectMode.SelectRead)) continue;
            var free = reader.Free;
            int n = _socket.Receive(free.Span, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                mayHaveMore = false;
                continue;
            }
            if (error != SocketError.Success) throw new SocketException((int)error);
            mayHaveMore = n == free.Length;
            if (!reader.Received(n)) return;
        }
    }

    /// <summary>Frames parsed straight out of one receive buffer; a frame split across reads waits for its rest.</summary>
    private sealed class Reader(StreamLink link, IFrameSink sink)
    {
        private readonly byte[] _buffer = new byte[Math.Max(link.Options.ReadBufferBytes, link.Options.MaxFrameLength + FrameCodec.PrefixLength)];
        private int _start, _end;

        /// <summary>Where the next receive goes (after compacting a partial frame to the front when the buffer is full).</summary>
        public Memory<byte> Free
        {
            get
            {
                if (_end == _buffer.Length)
                {
                    // Compact: the partial frame moves to the front (it is at most MaxFrameLength + 2 bytes).
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                return _buffer.AsMemory(_end);
            }
        }

        /// <summary>Delivers every whole frame now in the buffer; false at end of stream (<paramref name="n"/> = 0).</summary>
        public bool Received(int n)
        {
            if (n == 0)
            {
                if (_end > _start)
                {
                    link.Stats.Drops.Increment(DropReason.FrameTruncatedAtEof);
                    link.EndReason = $"EOF in the middle of a frame ({_end - _start} bytes pending)";
                }
                return false;
            }
            _end += n;
            // The frames of one read are one burst: what they queue on other links is written at its end (FrameLink.Burst).
            using (Burst())
            {
                while (true)
                {
                    var pending = _buffer.AsSpan(_start, _end - _start);
                    if (!FrameCodec.TryReadLength(pending, link.Options.MaxFrameLength, out var len, out var reason))
                    {
                        if (reason == DropReason.None) break;
                        link.Stats.Drops.Increment(reason);
                        var raw = pending.Length >= 2 ? pending[0] | (pending[1] << 8) : -1;
                        throw new LinkProtocolException(reason, $"bad frame length prefix {raw} (allowed 1..{link.Options.MaxFrameLength})");
                    }
                    if (pending.Length < FrameCodec.PrefixLength + len) break;
                    var frame = link.Pool.TryRent(len);
                    if (frame is null)
                    {
                        link.Stats.Drops.Increment(DropReason.FramePoolExhausted);
                    }
                    else
                    {
                        pending.Slice(FrameCodec.PrefixLength, len).CopyTo(frame.Array);
                        frame.SetLength(len);
                        link.Stats.CountIn(len);
                        sink.Deliver(frame);
                    }
                    _start += FrameCodec.PrefixLength + len;
                }
            }
            if (_start == _end) _start = _end = 0;
            return true;
        }
    }

    protected override bool SupportsInlineWrites => true;

    protected override bool HasPendingWrite => _pendingStart < _pendingEnd;

    protected override Task WriteQueuedAsync(CancellationToken ct) => _polled ? WriteQueuedPolled(ct) : WriteQueuedEngineAsync(ct);

    private async Task WriteQueuedEngineAsync(CancellationToken ct)
    {
        while (HasPendingWrite || FillBatch())
        {
            while (_pendingStart < _pendingEnd)
                _pendingStart += await _socket.SendAsync(_batch.AsMemory(_pendingStart, _pendingEnd - _pendingStart), SocketFlags.None, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Sends without the socket engine: when the socket is full, waits for room (poll) on this thread.</summary>
    private Task WriteQueuedPolled(CancellationToken ct)
    {
        while (!TryWriteInline())
        {
            ct.ThrowIfCancellationRequested();
            _socket.Poll(PollMicroseconds, SelectMode.SelectWrite);
        }
        return Task.CompletedTask;
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

/// <summary>How a <see cref="StreamLink"/> waits for its socket.</summary>
public enum StreamLinkIo
{
    /// <summary><see cref="Polled"/> except on Windows, where <see cref="SocketEngine"/>.</summary>
    Default,
    /// <summary>A reader thread of its own that polls for input; sends that would block wait for room with poll.</summary>
    Polled,
    /// <summary>.NET's asynchronous receives and sends.</summary>
    SocketEngine,
}
