using System.Net;
using System.Net.Sockets;

namespace RdNet.Actors.Tests.Support;

/// <summary>
/// A UDP echo server on 127.0.0.1 (loopback only). A datagram starting with 'B' is answered with 2000 bytes (to test
/// replies too large for the MTU); anything else is echoed as it came.
/// </summary>
public sealed class UdpEchoServer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;

    public UdpEchoServer()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = (ushort)((IPEndPoint)_socket.LocalEndPoint!).Port;
        _loop = Task.Run(RunAsync);
    }

    public ushort Port { get; }

    public int Received;

    private async Task RunAsync()
    {
        var buf = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var r = await _socket.ReceiveFromAsync(buf, SocketFlags.None, any, _cts.Token);
                Interlocked.Increment(ref Received);
                var reply = r.ReceivedBytes > 0 && buf[0] == (byte)'B' ? new byte[2000] : buf.AsMemory(0, r.ReceivedBytes);
                await _socket.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint, _cts.Token);
            }
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        catch (SocketException) { }
    }

    /// <summary>A loopback port with nothing listening (bound, then closed).</summary>
    public static ushort ClosedPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (ushort)((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public void Dispose()
    {
        _cts.Cancel();
        _socket.Dispose();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _cts.Dispose();
    }
}
