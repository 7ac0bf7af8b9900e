using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Framing;

/// <summary>
/// The stream encapsulation of the original (gvisor-tap-vsock "stdio"/hyperkit protocol, spec §3.2):
/// <code>
///  0        2                      2+N
///  +--------+----------------------+
///  | N (LE) | Ethernet II frame    |   N counts the frame only; no FCS, no PI or virtio header
///  +--------+----------------------+
/// </code>
/// </summary>
public static class FrameCodec
{
    public const int PrefixLength = 2;

    /// <summary>The largest N the 16-bit prefix can carry.</summary>
    public const int MaxEncodableLength = ushort.MaxValue;

    /// <summary>
    /// Reads the length prefix at the start of <paramref name="buffered"/>. Returns false with
    /// <see cref="DropReason.None"/> when fewer than two bytes are available; returns false with a reason when
    /// the prefix is invalid (0, or above <paramref name="maxFrameLength"/>) — the check happens before anything is
    /// allocated or copied for the frame.
    /// </summary>
    public static bool TryReadLength(ReadOnlySpan<byte> buffered, int maxFrameLength, out int frameLength, out DropReason reason)
    {
        frameLength = 0;
        reason = DropReason.None;
        if (buffered.Length < PrefixLength) return false;
        var n = BinaryPrimitives.ReadUInt16LittleEndian(buffered);
        if (n == 0)
        {
            reason = DropReason.FrameLengthZero;
            return false;
        }
        if (n > maxFrameLength)
        {
            reason = DropReason.FrameLengthTooLarge;
            return false;
        }
        frameLength = n;
        return true;
    }

    /// <summary>Writes prefix and frame; returns the bytes written (2 + frame length).</summary>
    public static int Encode(Span<byte> destination, ReadOnlySpan<byte> frame)
    {
        if (frame.Length is 0 or > MaxEncodableLength)
            throw new ArgumentOutOfRangeException(nameof(frame), frame.Length, "a frame must be 1..65535 bytes");
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)frame.Length);
        frame.CopyTo(destination[PrefixLength..]);
        return PrefixLength + frame.Length;
    }
}
