using System.Buffers.Binary;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Protocols.Dns;

/// <summary>
/// Appends a DNS message into a caller's span. Every write checks the room left; once something does not fit,
/// <see cref="Overflow"/> is set and later writes do nothing, so a caller checks once at the end (or before
/// committing a record, with <see cref="Mark"/>/<see cref="Reset"/>).
/// </summary>
public ref struct DnsWriter
{
    private readonly Span<byte> _dst;

    public DnsWriter(Span<byte> destination) => _dst = destination;

    public int Position { get; private set; }
    public bool Overflow { get; private set; }
    public int Capacity => _dst.Length;

    public readonly int Mark() => Position;

    public void Reset(int mark)
    {
        Position = mark;
        Overflow = false;
    }

    private Span<byte> Take(int n)
    {
        if (Overflow || Position + n > _dst.Length)
        {
            Overflow = true;
            return default;
        }
        var s = _dst.Slice(Position, n);
        Position += n;
        return s;
    }

    public void UInt16(ushort v)
    {
        var s = Take(2);
        if (!s.IsEmpty) BinaryPrimitives.WriteUInt16BigEndian(s, v);
    }

    public void UInt32(uint v)
    {
        var s = Take(4);
        if (!s.IsEmpty) BinaryPrimitives.WriteUInt32BigEndian(s, v);
    }

    public void Bytes(scoped ReadOnlySpan<byte> b)
    {
        var s = Take(b.Length);
        if (!s.IsEmpty || b.IsEmpty) b.CopyTo(s);
    }

    public void Name(string name)
    {
        Span<byte> tmp = stackalloc byte[DnsName.MaxLength + 1];
        var n = DnsName.Write(tmp, name);
        if (n < 0)
        {
            Overflow = true;
            return;
        }
        Bytes(tmp[..n]);
    }

    /// <summary>A compression pointer to <paramref name="offset"/> (RFC 1035 §4.1.4).</summary>
    public void Pointer(int offset) => UInt16((ushort)(0xC000 | offset));

    public void Header(ushort id, ushort flags, int qd, int an, int ns, int ar)
    {
        UInt16(id);
        UInt16(flags);
        UInt16((ushort)qd);
        UInt16((ushort)an);
        UInt16((ushort)ns);
        UInt16((ushort)ar);
    }

    /// <summary>Rewrites the four section counts of the header already written at offset 0.</summary>
    public readonly void PatchCounts(int qd, int an, int ns, int ar)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_dst[DnsMessage.QdCountOffset..], (ushort)qd);
        BinaryPrimitives.WriteUInt16BigEndian(_dst[DnsMessage.AnCountOffset..], (ushort)an);
        BinaryPrimitives.WriteUInt16BigEndian(_dst[DnsMessage.NsCountOffset..], (ushort)ns);
        BinaryPrimitives.WriteUInt16BigEndian(_dst[DnsMessage.ArCountOffset..], (ushort)ar);
    }

    public readonly void PatchFlags(ushort flags) => BinaryPrimitives.WriteUInt16BigEndian(_dst[DnsMessage.FlagsOffset..], flags);

    /// <summary>An A record whose owner is a pointer to <paramref name="ownerOffset"/>.</summary>
    public void ARecord(int ownerOffset, uint ttl, Ipv4Address address)
    {
        Pointer(ownerOffset);
        UInt16(DnsType.A);
        UInt16(DnsType.ClassIn);
        UInt32(ttl);
        UInt16(Ipv4Address.Length);
        UInt32(address.Value);
    }

    /// <summary>An OPT pseudo-record (RFC 6891 §6.1.2) with no options.</summary>
    public void Opt(ushort udpPayloadSize, byte extendedRcode = 0)
    {
        Bytes([0]);
        UInt16(DnsType.Opt);
        UInt16(udpPayloadSize);
        UInt32((uint)extendedRcode << 24);
        UInt16(0);
    }

    public const int OptLength = 11;
}
