using System.Net;
using System.Net.Sockets;

namespace RdNet.Transport.WslProxy;

/// <summary>Binds the listening socket for a <see cref="ListenerKey"/>. A failure is a <see cref="SocketException"/> naming the reason.</summary>
public static class ProxySockets
{
    /// <summary>
    /// All addresses: one dual-mode socket on [::] so IPv4 and IPv6 clients both reach it (as Go's wildcard
    /// listener); if the namespace has IPv6 disabled, 0.0.0.0. A specific address binds exactly that address.
    /// </summary>
    public static Socket Bind(ListenerKey key, int backlog)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Address is { } address) return BindOne(key.Protocol, new IPEndPoint(address, key.Port), dualMode: false, backlog);
        try
        {
            return BindOne(key.Protocol, new IPEndPoint(IPAddress.IPv6Any, key.Port), dualMode: true, backlog);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable or SocketError.ProtocolNotSupported)
        {
            return BindOne(key.Protocol, new IPEndPoint(IPAddress.Any, key.Port), dualMode: false, backlog);
        }
    }

    private static Socket BindOne(ProxyProtocol protocol, IPEndPoint endPoint, bool dualMode, int backlog)
    {
        var socket = protocol == ProxyProtocol.Tcp
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = dualMode;
            // TCP only: a restarted listener must not wait for TIME_WAIT; for UDP SO_REUSEADDR would let two
            // sockets share the port and hide a conflict.
            if (protocol == ProxyProtocol.Tcp) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            if (protocol == ProxyProtocol.Tcp) socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Closes with an RST (SO_LINGER 0) so the peer sees a reset rather than a clean end of data.</summary>
    public static void Abort(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }
}
