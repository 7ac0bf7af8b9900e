using System.Net;
using System.Net.Sockets;
using Tmds.Linux;

namespace RdNet.Transport.Gateway;

/// <summary>
/// Starts the host connect of a guest TCP connection. A connect to a loopback address is done in the caller's turn:
/// on Linux the whole handshake of a loopback connect runs inside the <c>connect</c> call, so a non-blocking connect
/// followed by a zero-timeout poll already knows the outcome — connected, or refused — and the guest's SYN-ACK (or RST)
/// needs no completion from the socket engine's thread and no hand-off to the thread pool (issue #4: a guest connect
/// to <c>host.rancher-desktop.internal</c> costs one round trip through the switches, not several wake-ups more).
/// A loopback listener whose accept queue is full drops the SYN instead; that connect is then polled in growing steps
/// (1 ms up to <see cref="MaxPollStep"/>) until it completes or fails — the kernel itself retries only after a
/// second. Other destinations, and Windows (whose loopback connect completes asynchronously), use .NET's
/// asynchronous connect.
/// </summary>
public static class HostConnect
{
    /// <summary>The longest wait between two polls of a loopback connect that did not complete at once.</summary>
    public static readonly TimeSpan MaxPollStep = TimeSpan.FromMilliseconds(64);

    /// <summary>
    /// Starts connecting <paramref name="socket"/> (a new TCP socket) to <paramref name="endPoint"/>. The task is
    /// already complete when the outcome is known at once; a failure is a <see cref="SocketException"/> (refused,
    /// unreachable, ...). Disposing the socket ends a pending connect (the task then fails). A loopback socket is
    /// connected behind .NET's back (libc's connect), so the <see cref="Socket"/> does not know: its
    /// <see cref="Socket.Connected"/> stays false and its end points null; asynchronous send and receive, shutdown,
    /// socket options and close — all a flow uses — do not depend on them.
    /// </summary>
    public static Task Start(Socket socket, IPEndPoint endPoint)
    {
        if (!OperatingSystem.IsWindows() && IPAddress.IsLoopback(endPoint.Address)) return StartInTurn(socket, endPoint);
        try
        {
            return socket.ConnectAsync(endPoint, CancellationToken.None).AsTask();
        }
        catch (SocketException e)
        {
            return Task.FromException(e);
        }
    }

    /// <summary>The non-blocking connect and poll used for loopback destinations (internal for tests).</summary>
    internal static Task StartInTurn(Socket socket, IPEndPoint endPoint)
    {
        socket.Blocking = false;
        // libc's connect, not Socket.Connect: .NET reports a non-blocking connect under way (EINPROGRESS, the usual
        // answer even on loopback) by throwing, and a throw costs more than the whole loopback handshake.
        var address = endPoint.Serialize();
        int rc, errno;
        unsafe
        {
            fixed (byte* sa = address.Buffer.Span)
            {
                rc = LibC.connect((int)socket.Handle, (sockaddr*)sa, address.Size);
                errno = rc == 0 ? 0 : LibC.errno;
            }
        }
        if (rc == 0) return Finish(socket, SocketError.Success);
        if (errno != LibC.EINPROGRESS) return Task.FromException(ErrnoException(errno));
        return TryFinish(socket) ?? PollAsync(socket); // a loopback handshake has normally finished by now
    }

    /// <summary>connect's own failures (Linux errno values) as the <see cref="SocketError"/> .NET would report.</summary>
    internal static SocketException ErrnoException(int errno) => new((int)(errno switch
    {
        111 => SocketError.ConnectionRefused,
        101 => SocketError.NetworkUnreachable,
        113 => SocketError.HostUnreachable,
        99 => SocketError.AddressNotAvailable,
        98 => SocketError.AddressAlreadyInUse,
        110 => SocketError.TimedOut,
        1 or 13 => SocketError.AccessDenied,
        105 or 12 => SocketError.NoBufferSpaceAvailable,
        _ => SocketError.SocketError,
    }), $"connect failed (errno {errno})");

    /// <summary>The outcome once the socket is writable (connected, or failed with its error); null while connecting.</summary>
    private static Task? TryFinish(Socket socket)
    {
        if (!socket.Poll(0, SelectMode.SelectWrite)) return null;
        var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        return Finish(socket, error);
    }

    private static Task Finish(Socket socket, SocketError error)
    {
        if (error != SocketError.Success) return Task.FromException(new SocketException((int)error));
        socket.Blocking = true; // as a socket .NET connected itself; its asynchronous calls do not depend on it
        return Task.CompletedTask;
    }

    private static async Task PollAsync(Socket socket)
    {
        var step = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            await Task.Delay(step).ConfigureAwait(false);
            var done = TryFinish(socket); // ObjectDisposedException once the owner gave up and closed the socket
            if (done is not null)
            {
                await done.ConfigureAwait(false);
                return;
            }
            if (step < MaxPollStep) step *= 2;
        }
    }
}
