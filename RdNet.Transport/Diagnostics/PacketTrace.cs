namespace RdNet.Transport.Diagnostics;

/// <summary>
/// Whether per-packet trace lines are written (<c>--trace-packets</c>), switchable while running (SIGUSR1). Readers on
/// the hot path pay one volatile read when it is off.
/// </summary>
public sealed class PacketTrace(bool enabled)
{
    private readonly Lock _lock = new();
    private volatile bool _enabled = enabled;

    public bool Enabled => _enabled;

    /// <summary>Flips the switch; returns the new state. Called from a signal handler thread.</summary>
    public bool Toggle()
    {
        lock (_lock)
        {
            _enabled = !_enabled;
            return _enabled;
        }
    }
}
