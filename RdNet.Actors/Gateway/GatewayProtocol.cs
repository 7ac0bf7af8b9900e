using System.Net.Sockets;
using RdNet.Transport.Wire;

namespace RdNet.Actors.Gateway;

/// <summary>Messages between the gateway's services.</summary>
public static class GatewayProtocol
{
    /// <summary>
    /// A guest TCP connection to one of the gateway's own ports (DNS on .1:53, the forwarder API on .1:80), accepted
    /// by the TCP stack and handed to the service that owns the port as a connected stream socket. The TCP stack
    /// keeps the other end of a socket pair and copies between it and the guest connection, so a service reads and
    /// writes an ordinary socket and sees EOF/half-close as the guest sent it. The service owns
    /// <paramref name="Socket"/> and disposes it.
    /// </summary>
    /// <summary>
    /// The TCP service asks its parent, the gateway, at every start which sibling services own gateway TCP ports; the
    /// gateway answers with one <see cref="Tcp.TcpNatProtocol.RegisterLocalPort"/> per port.
    /// </summary>
    public sealed record RequestLocalPorts
    {
        public static readonly RequestLocalPorts Instance = new();
    }

    /// <summary>A message for the service behind the gateway (e.g. a port forward's dial to the TCP stack); forwarded with its sender.</summary>
    public sealed record ToService(Transport.Gateway.GatewayService Service, object Message);

    /// <summary>Answer to <see cref="ToService"/> when the gateway is not attached yet or has no such service.</summary>
    public sealed record ServiceUnavailable(Transport.Gateway.GatewayService Service, object Message);

    public sealed record LocalStreamAccepted(Socket Socket, Ipv4Address GuestAddress, ushort GuestPort, ushort LocalPort);
}
