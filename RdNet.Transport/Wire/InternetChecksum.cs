using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RdNet.Transport.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit big-endian words.
/// </summary>
/// <remarks>
/// The ones' complement sum is independent of byte order (RFC 1071 §2(B)), so the bulk of the data is summed as
/// native-order 32-bit halves of unaligned 64-bit loads into a 64-bit accumulator (no carry handling needed until
/// the end), and the 16-bit result is byte-swapped once on little-endian machines.
/// <see cref="Add"/> treats <paramref name="data"/> as starting on an even offset of the checksummed message: when a
/// message is summed in several chunks, every chunk except the last must have an even length.
/// </remarks>
public static class InternetChecksum
{
    /// <summary>The checksum of <paramref name="data"/>; a region that contains its own correct checksum gives 0.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Fold(Add(0, data));

    /// <summary>Adds <paramref name="data"/> to a running sum. The result is not folded to 16 bits nor complemented.</summary>
    public static uint Add(uint partial, ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int i = 0;

        // With 256-bit vectors: 32 bytes per iteration as eight native 32-bit words widened into four 64-bit lanes
        // (each lane gains < 2^33 per iteration, so no lane can overflow for any span).
        if (Vector256.IsHardwareAccelerated && length >= 64)
        {
            var acc = Vector256<ulong>.Zero;
            for (; i + 32 <= length; i += 32)
            {
                var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i).AsUInt32());
                acc += lower + upper;
            }
            sum = Vector256.Sum(acc);
        }

        // 32 bytes per iteration; each 32-bit half is < 2^32, so the 64-bit accumulator cannot overflow
        // for any span (2^31 bytes at most gives < 2^61).
        for (; i + 32 <= length; i += 32)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i));
            ulong b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 8));
            ulong c = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 16));
            ulong d = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 24));
            sum += (a & 0xFFFF_FFFF) + (a >> 32) + (b & 0xFFFF_FFFF) + (b >> 32)
                 + (c & 0xFFFF_FFFF) + (c >> 32) + (d & 0xFFFF_FFFF) + (d >> 32);
        }
        for (; i + 8 <= length; i += 8)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i));
            sum += (a & 0xFFFF_FFFF) + (a >> 32);
        }
        if (i + 4 <= length)
        {
            sum += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, i));
            i += 4;
        }
        if (i + 2 <= length)
        {
            sum += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, i));
            i += 2;
        }
        if (i < length)
        {
            // RFC 1071 §4.1: a trailing odd byte is the high-order byte of a word padded with zero.
            byte last = Unsafe.Add(ref start, i);
            sum += BitConverter.IsLittleEndian ? last : (ulong)last << 8;
        }

        ushort folded = FoldTo16(sum);
        if (BitConverter.IsLittleEndian) folded = BinaryPrimitives.ReverseEndianness(folded);
        return FoldTo32((ulong)partial + folded);
    }

    /// <summary>The unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1) for UDP and TCP checksums.</summary>
    public static uint PseudoHeader(Ipv4Address src, Ipv4Address dst, byte protocol, int length) =>
        (src.Value >> 16) + (src.Value & 0xFFFF) + (dst.Value >> 16) + (dst.Value & 0xFFFF) + protocol + (uint)(length & 0xFFFF);

    /// <summary>Folds carries into 16 bits and returns the ones' complement: the value to put in a checksum field.</summary>
    public static ushort Fold(uint sum) => (ushort)~FoldTo16(sum);

    private static ushort FoldTo16(ulong sum)
    {
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static uint FoldTo32(ulong sum)
    {
        while ((sum >> 32) != 0) sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        return (uint)sum;
    }
}
