using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Gateway;

namespace RdNet.Transport.Tests.Gateway;

/// <summary>
/// The host connect of a guest TCP connection: on loopback the outcome is known when <see cref="HostConnect.Start"/>
/// returns (connected or refused, no completion to wait for); a listener whose accept queue is full keeps the connect
/// pending until it has room; the connected socket carries data with .NET's asynchronous calls.
/// </summary>
public sealed class HostConnectTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly List<Socket> _sockets = [];

    public void Dispose()
    {
        foreach (var s in _sockets) s.Dispose();
    }

    private Socket Track(Socket s)
    {
        _sockets.Add(s);
        return s;
    }

    private Socket NewTcp(AddressFamily family = AddressFamily.InterNetwork) =>
        Track(new Socket(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });

    private Socket Listener(IPAddress address, int backlog = 16)
    {
        var l = NewTcp(address.AddressFamily);
        l.Bind(new IPEndPoint(address, 0));
        l.Listen(backlog);
        return l;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task A_loopback_connect_is_complete_when_Start_returns_and_carries_data_both_ways(string address)
    {
        var listener = Listener(IPAddress.Parse(address));
        var socket = NewTcp(listener.AddressFamily);

        var connect = HostConnect.Start(socket, (IPEndPoint)listener.LocalEndPoint!);

        Assert.True(connect.IsCompletedSuccessfully, $"connect was {connect.Status} when Start returned");
        Assert.True(socket.Blocking, "the socket is left as a connected .NET socket would be");
        var accepted = Track(await listener.AcceptAsync().WaitAsync(Wait));

        Assert.Equal(3, await socket.SendAsync(new byte[] { 1, 2, 3 }, SocketFlags.None).WaitAsync(Wait));
        var buffer = new byte[8];
        Assert.Equal(3, await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait));
        Assert.Equal(2, await accepted.SendAsync(new byte[] { 7, 8 }, SocketFlags.None).WaitAsync(Wait));
        Assert.Equal(2, await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait));
        Assert.Equal([7, 8], buffer[..2]);

        // Half-close, as the flow does on the guest's FIN: the peer reads end of stream.
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait));
    }

    [Fact]
    public void A_loopback_port_nobody_listens_on_is_refused_when_Start_returns()
    {
        var closed = Listener(IPAddress.Loopback);
        var endPoint = (IPEndPoint)closed.LocalEndPoint!;
        closed.Dispose();

        var connect = HostConnect.Start(NewTcp(), endPoint);

        Assert.True(connect.IsFaulted, $"connect was {connect.Status} when Start returned");
        var error = Assert.IsType<SocketException>(connect.Exception!.GetBaseException());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    /// <summary>A loopback listener with a full accept queue (backlog 0, one connection waiting): it drops SYNs.</summary>
    private (Socket Listener, Socket Filler) FullQueue()
    {
        var listener = Listener(IPAddress.Loopback, backlog: 0);
        var filler = NewTcp();
        filler.Connect(listener.LocalEndPoint!);
        return (listener, filler);
    }

    [Fact]
    public async Task A_connect_to_a_listener_with_a_full_queue_waits_and_completes_once_the_queue_has_room()
    {
        var (listener, _) = FullQueue();
        var socket = NewTcp();

        var connect = HostConnect.Start(socket, (IPEndPoint)listener.LocalEndPoint!);
        Assert.False(connect.IsCompleted, "the SYN was dropped, so the connect cannot have completed");
        await Task.Delay(300);
        Assert.False(connect.IsCompleted);

        Track(listener.Accept()); // room in the queue: the kernel's next SYN (after ~1 s) gets through
        await connect.WaitAsync(Wait);
        Assert.True(connect.IsCompletedSuccessfully);
        var accepted = Track(await listener.AcceptAsync().WaitAsync(Wait));
        Assert.Equal(1, await socket.SendAsync(new byte[] { 42 }, SocketFlags.None).WaitAsync(Wait));
        var buffer = new byte[1];
        Assert.Equal(1, await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait));
        Assert.Equal(42, buffer[0]);
    }

    [Fact]
    public async Task A_pending_connect_ends_when_its_owner_closes_the_socket()
    {
        var (listener, _) = FullQueue();
        var socket = NewTcp();
        var connect = HostConnect.Start(socket, (IPEndPoint)listener.LocalEndPoint!);
        Assert.False(connect.IsCompleted);

        socket.Dispose(); // the flow's connect timeout
        var ended = await Task.WhenAny(connect, Task.Delay(Wait));
        Assert.Same(connect, ended);
        Assert.True(connect.IsFaulted);
    }

    [Fact]
    public void Connect_errors_of_the_system_call_map_to_the_socket_errors_dotnet_reports()
    {
        Assert.Equal(SocketError.ConnectionRefused, HostConnect.ErrnoException(111).SocketErrorCode);
        Assert.Equal(SocketError.NetworkUnreachable, HostConnect.ErrnoException(101).SocketErrorCode);
        Assert.Equal(SocketError.AddressNotAvailable, HostConnect.ErrnoException(99).SocketErrorCode);
        var other = HostConnect.ErrnoException(4242);
        Assert.Equal(SocketError.SocketError, other.SocketErrorCode);
        Assert.Contains("errno 4242", other.Message);
    }
}
