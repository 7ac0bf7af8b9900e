using System.Net.Sockets;

namespace RdNet.Actors.WslProxy;

/// <summary>
/// Shared by every incarnation of one listener under its backoff supervisor: the socket the root bound when the
/// mapping arrived (taken only by the first incarnation, so a bad address is refused at once) and a count of starts.
/// </summary>
public sealed class ListenerIncarnations(Socket? bound)
{
    private Socket? _bound = bound;
    private int _started;

    public Socket? TakeBound() => Interlocked.Exchange(ref _bound, null);

    public int NextIncarnation() => Interlocked.Increment(ref _started);

    /// <summary>Closes a bound socket nobody took (the supervisor was stopped before its child started).</summary>
    public void DisposeUnused() => TakeBound()?.Dispose();
}
