using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Icmp;

/// <summary>An echo reply that arrived on the host: who answered and with which sequence number.</summary>
public readonly record struct HostEchoReply(Ipv4Address From, ushort Sequence);

/// <summary>
/// The host side of ICMP echo forwarding: sends echo requests to real destinations and reports the replies.
/// Requests are told apart by sequence number (see <see cref="EchoTable"/>); the identifier is the socket's business.
/// </summary>
public interface IHostEchoSocket : IDisposable
{
    /// <summary>Sends an echo request; returns the socket error (Success when it left).</summary>
    SocketError Send(Ipv4Address destination, ushort sequence, ReadOnlySpan<byte> data);

    /// <summary>The next echo reply for this socket; null for anything else that arrived (other types, other identifiers).</summary>
    ValueTask<HostEchoReply?> ReceiveAsync(CancellationToken cancellationToken);
}

/// <summary>Opens the platform's way of pinging without extra privileges, or says why it cannot.</summary>
public static class HostEchoSocket
{
    /// <summary>Where Linux says which groups may open unprivileged ICMP sockets.</summary>
    public const string PingGroupRangePath = "/proc/sys/net/ipv4/ping_group_range";

    public static bool TryOpen(out IHostEchoSocket? socket, out string? error)
    {
        socket = null;
        error = null;
        try
        {
            socket = OperatingSystem.IsWindows() ? new RawIcmpSocket() : new DatagramIcmpSocket();
            return true;
        }
        catch (SocketException e)
        {
            error = OperatingSystem.IsWindows()
                ? $"a raw ICMP socket needs an elevated process ({e.SocketErrorCode}: {e.Message})"
                : $"unprivileged ICMP sockets are not permitted for this process ({e.SocketErrorCode}: {e.Message}); "
                  + $"{PingGroupRangePath} is \"{ReadPingGroupRange()}\" and must include one of its groups, "
                  + "e.g. sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"";
            return false;
        }
    }

    private static string ReadPingGroupRange()
    {
        try
        {
            return File.ReadAllText(PingGroupRangePath).Trim().Replace('\t', ' ');
        }
        catch (IOException)
        {
            return "unreadable";
        }
        catch (UnauthorizedAccessException)
        {
            return "unreadable";
        }
    }

    internal static int WriteRequest(Span<byte> dst, ushort identifier, ushort sequence, ReadOnlySpan<byte> data) =>
        IcmpEcho.Emit(dst, IcmpType.EchoRequest, identifier, sequence, data);

    /// <summary>
    /// Linux (and macOS) SOCK_DGRAM/IPPROTO_ICMP: allowed for groups in net.ipv4.ping_group_range. The kernel sets the
    /// identifier to the socket's bound "port", delivers only replies carrying it, and strips the IP header.
    /// </summary>
    private sealed class DatagramIcmpSocket : IHostEchoSocket
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp) { Blocking = false };
        private readonly byte[] _send = new byte[ushort.MaxValue];
        private readonly byte[] _receive = new byte[ushort.MaxValue];
        private readonly IPEndPoint _any = new(IPAddress.Any, 0);

        public DatagramIcmpSocket()
        {
            try
            {
                // Binding to "port" 0 lets the kernel choose the identifier now (and .NET receive-from needs a bound socket).
                _socket.Bind(_any);
            }
            catch
            {
                _socket.Dispose();
                throw;
            }
        }

        public SocketError Send(Ipv4Address destination, ushort sequence, ReadOnlySpan<byte> data)
        {
            var n = WriteRequest(_send, 0, sequence, data);
            return SendTo(_socket, _send.AsSpan(0, n), destination);
        }

        public async ValueTask<HostEchoReply?> ReceiveAsync(CancellationToken cancellationToken)
        {
            var r = await _socket.ReceiveFromAsync(_receive, SocketFlags.None, _any, cancellationToken).ConfigureAwait(false);
            return Parse(_receive.AsSpan(0, r.ReceivedBytes), ((IPEndPoint)r.RemoteEndPoint).Address, expectedIdentifier: null);
        }

        public void Dispose() => _socket.Dispose();
    }

    /// <summary>
    /// Windows: a raw ICMP socket (needs elevation). It sees every ICMP message of the host with its IP header, so
    /// replies are filtered by an identifier chosen per socket.
    /// </summary>
    private sealed class RawIcmpSocket : IHostEchoSocket
    {
        private readonly Socket _socket;
        private readonly ushort _identifier = (ushort)Random.Shared.Next(1, ushort.MaxValue);
        private readonly byte[] _send = new byte[ushort.MaxValue];
        private readonly byte[] _receive = new byte[ushort.MaxValue];
        private readonly IPEndPoint _any = new(IPAddress.Any, 0);

        public RawIcmpSocket()
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp);
            // Windows delivers nothing to a raw socket that is not bound.
            _socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        }

        public SocketError Send(Ipv4Address destination, ushort sequence, ReadOnlySpan<byte> data)
        {
            var n = WriteRequest(_send, _identifier, sequence, data);
            return SendTo(_socket, _send.AsSpan(0, n), destination);
        }

        public async ValueTask<HostEchoReply?> ReceiveAsync(CancellationToken cancellationToken)
        {
            var r = await _socket.ReceiveFromAsync(_receive, SocketFlags.None, _any, cancellationToken).ConfigureAwait(false);
            if (!Ipv4Packet.TryCreate(_receive.AsSpan(0, r.ReceivedBytes), out var ip, out _) || ip.Protocol != IpProtocol.Icmp)
                return null;
            return Parse(ip.Payload, ((IPEndPoint)r.RemoteEndPoint).Address, _identifier);
        }

        public void Dispose() => _socket.Dispose();
    }

    private static SocketError SendTo(Socket socket, ReadOnlySpan<byte> message, Ipv4Address destination)
    {
        try
        {
            socket.SendTo(message, SocketFlags.None, new IPEndPoint(destination.ToIPAddress(), 0));
            return SocketError.Success;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    private static HostEchoReply? Parse(ReadOnlySpan<byte> message, IPAddress from, ushort? expectedIdentifier)
    {
        if (message.Length < IcmpPacket.HeaderLength || message[0] != IcmpType.EchoReply || message[1] != 0) return null;
        if (expectedIdentifier is { } id && BinaryPrimitives.ReadUInt16BigEndian(message[4..]) != id) return null;
        if (from.AddressFamily != AddressFamily.InterNetwork) return null;
        return new HostEchoReply(Ipv4Address.FromIPAddress(from), BinaryPrimitives.ReadUInt16BigEndian(message[6..]));
    }
}
