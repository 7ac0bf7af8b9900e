using System.Buffers.Binary;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Offload;

/// <summary>
/// The virtio-net header (struct virtio_net_hdr, virtio spec §5.1.6, linux/virtio_net.h) that a tap opened with
/// IFF_VNET_HDR puts in front of every frame, read and written: 10 bytes, little-endian (TUNSETVNETLE).
/// <code>
///  0        1          2          4          6            8             10
/// | flags  | gso_type | hdr_len  | gso_size | csum_start | csum_offset |
/// </code>
/// A write with gso_type TCPV4 hands the kernel one large TCP segment that it treats as <c>gso_size</c>-byte segments
/// (it delivers it whole to a local socket, and cuts it only if it forwards it); NEEDS_CSUM says the TCP checksum
/// field holds the pseudo-header sum and the rest is still to be added from csum_start, as for a NIC's offload.
/// </summary>
public readonly ref struct VirtioNetHeader
{
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: complete the checksum at csum_start + csum_offset.</summary>
    public const byte FlagNeedsChecksum = 1;
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was already verified.</summary>
    public const byte FlagDataValid = 2;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;

    private const int FlagsOffset = 0, GsoTypeOffset = 1, HeaderLengthOffset = 2, GsoSizeOffset = 4, ChecksumStartOffset = 6, ChecksumOffsetOffset = 8;

    private readonly ReadOnlySpan<byte> _header;

    /// <summary>A view over the first <see cref="Length"/> bytes of <paramref name="header"/>, which must hold them.</summary>
    public VirtioNetHeader(ReadOnlySpan<byte> header) => _header = header[..Length];

    public byte Flags => _header[FlagsOffset];
    public byte GsoType => _header[GsoTypeOffset];
    public ushort HeaderLength => BinaryPrimitives.ReadUInt16LittleEndian(_header[HeaderLengthOffset..]);
    public ushort GsoSize => BinaryPrimitives.ReadUInt16LittleEndian(_header[GsoSizeOffset..]);
    public ushort ChecksumStart => BinaryPrimitives.ReadUInt16LittleEndian(_header[ChecksumStartOffset..]);
    public ushort ChecksumOffset => BinaryPrimitives.ReadUInt16LittleEndian(_header[ChecksumOffsetOffset..]);

    /// <summary>
    /// Checks what a read from a tap returned (header, then frame) when no offload was asked for: the kernel then sends
    /// whole frames, so a segment to cut is refused; a checksum left to complete (NEEDS_CSUM) is completed in place.
    /// Returns <see cref="DropReason.None"/> when the frame behind the header can be used.
    /// </summary>
    public static DropReason AcceptRead(Span<byte> read)
    {
        if (read.Length < Length) return DropReason.TapHeaderTruncated;
        var header = new VirtioNetHeader(read);
        if (header.GsoType != GsoNone) return DropReason.TapUnexpectedSegmentation;
        if ((header.Flags & FlagNeedsChecksum) == 0) return DropReason.None;
        var frame = read[Length..];
        int start = header.ChecksumStart, field = start + header.ChecksumOffset;
        if (field + 2 > frame.Length) return DropReason.TapChecksumOutOfFrame;
        // The field holds the pseudo-header sum; the checksum covers it and everything from csum_start on.
        BinaryPrimitives.WriteUInt16BigEndian(frame[field..], InternetChecksum.Compute(frame[start..]));
        return DropReason.None;
    }

    /// <summary>A plain frame: no segmentation, checksums already in the frame.</summary>
    public static void WritePlain(Span<byte> dst) => dst[..Length].Clear();

    /// <summary>One TCP/IPv4 segment of <paramref name="segmentSize"/>-byte pieces whose checksum the kernel completes.</summary>
    public static void WriteTcpV4Segmentation(Span<byte> dst, int headersLength, int segmentSize, int checksumStart, int checksumOffset)
    {
        dst[FlagsOffset] = FlagNeedsChecksum;
        dst[GsoTypeOffset] = GsoTcpV4;
        BinaryPrimitives.WriteUInt16LittleEndian(dst[HeaderLengthOffset..], checked((ushort)headersLength));
        BinaryPrimitives.WriteUInt16LittleEndian(dst[GsoSizeOffset..], checked((ushort)segmentSize));
        BinaryPrimitives.WriteUInt16LittleEndian(dst[ChecksumStartOffset..], checked((ushort)checksumStart));
        BinaryPrimitives.WriteUInt16LittleEndian(dst[ChecksumOffsetOffset..], checked((ushort)checksumOffset));
    }
}
