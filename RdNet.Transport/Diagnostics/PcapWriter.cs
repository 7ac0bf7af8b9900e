using System.Buffers.Binary;

namespace RdNet.Transport.Diagnostics;

/// <summary>
/// Writes Ethernet frames to a classic libpcap capture (readable by tcpdump and Wireshark).
/// All integers are written little-endian; readers detect the byte order from the magic number.
/// </summary>
/// <remarks>
/// A capture is a diagnostic side channel: writes after <see cref="Dispose"/> are ignored rather than thrown,
/// so a link shutting down while a frame is in flight never faults the data path.
/// </remarks>
public sealed class PcapWriter : IDisposable
{
    public const uint Magic = 0xA1B2C3D4;
    public const ushort VersionMajor = 2;
    public const ushort VersionMinor = 4;
    public const int SnapLength = 65535;
    public const uint LinkTypeEthernet = 1;
    public const int GlobalHeaderLength = 24;
    public const int RecordHeaderLength = 16;

    // Global header layout (pcap file format, "pcap_hdr_t").
    private const int MagicOffset = 0;
    private const int VersionMajorOffset = 4;
    private const int VersionMinorOffset = 6;
    private const int ThisZoneOffset = 8;
    private const int SigFigsOffset = 12;
    private const int SnapLengthOffset = 16;
    private const int LinkTypeOffset = 20;

    // Record header layout ("pcaprec_hdr_t").
    private const int SecondsOffset = 0;
    private const int MicrosecondsOffset = 4;
    private const int IncludedLengthOffset = 8;
    private const int OriginalLengthOffset = 12;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly Lock _lock = new();
    private bool _disposed;

    public PcapWriter(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _leaveOpen = leaveOpen;
        Span<byte> h = stackalloc byte[GlobalHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(h[MagicOffset..], Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(h[VersionMajorOffset..], VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(h[VersionMinorOffset..], VersionMinor);
        BinaryPrimitives.WriteInt32LittleEndian(h[ThisZoneOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[SigFigsOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[SnapLengthOffset..], SnapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LinkTypeOffset..], LinkTypeEthernet);
        _stream.Write(h);
    }

    /// <summary>Creates (or truncates) a capture file at <paramref name="path"/>.</summary>
    public static PcapWriter Create(string path) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), leaveOpen: false);

    /// <summary>Appends one frame; frames longer than the snap length are truncated, keeping the original length.</summary>
    public void Write(ReadOnlySpan<byte> frame, DateTimeOffset timestamp)
    {
        long micros = (timestamp.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;
        if (micros < 0) micros = 0;
        int included = Math.Min(frame.Length, SnapLength);
        Span<byte> h = stackalloc byte[RecordHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(h[SecondsOffset..], (uint)(micros / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[MicrosecondsOffset..], (uint)(micros % 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(h[IncludedLengthOffset..], (uint)included);
        BinaryPrimitives.WriteUInt32LittleEndian(h[OriginalLengthOffset..], (uint)frame.Length);
        lock (_lock)
        {
            if (_disposed) return;
            _stream.Write(h);
            _stream.Write(frame[..included]);
        }
    }

    public void Flush()
    {
        lock (_lock)
        {
            if (!_disposed) _stream.Flush();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _stream.Flush();
            if (!_leaveOpen) _stream.Dispose();
        }
    }
}
