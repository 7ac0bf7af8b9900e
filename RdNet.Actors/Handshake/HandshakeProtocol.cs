using System.Net.Sockets;
using RdNet.Transport.Handshake;

namespace RdNet.Actors.Handshake;

/// <summary>Messages the handshake actors send to their parent.</summary>
public static class HandshakeProtocol
{
    /// <summary>Host: the data link is attached to the router as <paramref name="LinkName"/>.</summary>
    public sealed record VmLinkUp(string LinkName, SignatureKind PeerSignature, int Handshake);

    /// <summary>Host: the data link dropped; the handshake starts again.</summary>
    public sealed record VmLinkDown(string LinkName);

    /// <summary>Host: retries are exhausted (the parent decides: host-switch exits 1, as the current original does).</summary>
    public sealed record HandshakeGaveUp(string Reason);

    /// <summary>Guest: a READY arrived and the host's data port was dialled; ownership of the socket passes to the parent.</summary>
    public sealed record DataLinkUp(Socket Socket, string Description, int Handshake);

    /// <summary>Guest: a READY arrived but the data port could not be dialled; the guest waits for the next handshake.</summary>
    public sealed record DataDialGaveUp(string Reason);
}
