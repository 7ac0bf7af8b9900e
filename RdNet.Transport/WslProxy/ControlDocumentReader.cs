using System.Net.Sockets;

namespace RdNet.Transport.WslProxy;

/// <summary>What one control connection carried: the first JSON value (or everything up to EOF), or why nothing usable came.</summary>
public sealed record ControlRead(byte[] Document, string? Error);

/// <summary>
/// Reads one PortMapping from a control connection: the agent writes one JSON document and closes (spec §6.2).
/// Reading stops at the end of the first JSON value (anything after it is ignored, as the original), at EOF,
/// at <c>maxBytes</c> (refused before growing further) or at the timeout. Never throws; closes the socket.
/// </summary>
public static class ControlDocumentReader
{
    public static async Task<ControlRead> ReadAsync(Socket socket, int maxBytes, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using var _ = socket;
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[Math.Min(4096, maxBytes)];
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    if (buffer.Length >= maxBytes)
                        return new ControlRead([], $"the mapping is larger than {maxBytes} bytes (rdnet.wsl-proxy.control-max-bytes)");
                    Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, maxBytes));
                }
                var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 0) return new ControlRead(buffer[..filled], null);
                filled += n;
                switch (PortMappingParser.FindFirstValue(buffer.AsSpan(0, filled), endOfInput: false, out var length))
                {
                    case JsonValueBoundary.Complete:
                        return new ControlRead(buffer[..length], null);
                    case JsonValueBoundary.Malformed:
                        return new ControlRead(buffer[..filled], null); // the parser names the error
                }
            }
        }
        catch (OperationCanceledException)
        {
            return new ControlRead([], $"no complete mapping within {timeout.TotalSeconds:0.###} s (rdnet.wsl-proxy.control-read-timeout)");
        }
        catch (SocketException e)
        {
            return new ControlRead([], $"reading the control connection failed: {e.SocketErrorCode} ({e.Message})");
        }
        catch (ObjectDisposedException)
        {
            return new ControlRead([], "the control connection was closed while reading");
        }
    }
}
