using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.WslProxy;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// How wsl-proxy is put together and what its actors say to each other.
/// <see cref="Bind"/> opens a listening socket for a key (a test can wrap it to reach the socket it opened).
/// </summary>
public sealed record WslProxyConfig(
    WslProxySettings Settings,
    IPAddress Upstream,
    int UdpBufferBytes,
    string? ControlSocketPath,
    Socket? ControlSocket,
    DropCounters Drops,
    Func<ListenerKey, Socket>? Bind = null);

public static class WslProxyProtocol
{
    // ---- to the root (WslProxyActor) ----

    /// <summary>One PortMapping document as read from the control socket (validated by the root).</summary>
    public sealed record MappingDocument(byte[] Json, string Source);

    /// <summary>Stop accepting (control socket and every listener), then answer <see cref="Drained"/> once no relayed connection is left.</summary>
    public sealed record Drain
    {
        public static readonly Drain Instance = new();
    }

    public sealed record Drained(int ListenersLeft);

    /// <summary>Answered with <see cref="Listeners"/>: the keys currently listened on, sorted.</summary>
    public sealed record GetListeners
    {
        public static readonly GetListeners Instance = new();
    }

    public sealed record Listeners(IReadOnlyList<ListenerKey> Keys);

    // ---- from the root to a listener (through its backoff supervisor) ----

    /// <summary>Close the listening socket; stop once the relayed connections or flows have finished.</summary>
    public sealed record DrainListener
    {
        public static readonly DrainListener Instance = new();
    }

    // ---- published on the EventStream (what happened to each mapping; tests and diagnostics) ----

    public abstract record WslProxyEvent;

    public sealed record ListenerAdded(ListenerKey Key) : WslProxyEvent;

    public sealed record ListenerRemoved(ListenerKey Key) : WslProxyEvent;

    /// <summary>A document, entry or listener that was refused, with the reason that was logged.</summary>
    public sealed record MappingRejected(string Reason) : WslProxyEvent;

    /// <summary>A listener incarnation started (the first time or after its supervisor restarted it).</summary>
    public sealed record ListenerStarted(ListenerKey Key, int Incarnation) : WslProxyEvent;

    // Socket completions arrive after the actor that started them may have stopped; that is expected, not a dead letter to report.
    internal abstract record SocketCompletion : IDeadLetterSuppression;
}
