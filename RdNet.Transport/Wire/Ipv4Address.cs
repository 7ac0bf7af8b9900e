using System.Buffers.Binary;
using System.Net;

namespace RdNet.Transport.Wire;

/// <summary>An IPv4 address as a host-order uint: allocation-free compare, hash and arithmetic.</summary>
public readonly record struct Ipv4Address(uint Value) : IComparable<Ipv4Address>
{
    public const int Length = 4;
    public static readonly Ipv4Address Any = new(0);
    public static readonly Ipv4Address Broadcast = new(0xFFFF_FFFF);
    public static readonly Ipv4Address Loopback = new(0x7F00_0001);

    public Ipv4Address(byte a, byte b, byte c, byte d) : this(((uint)a << 24) | ((uint)b << 16) | ((uint)c << 8) | d) { }

    public bool IsMulticast => (Value >> 28) == 0xE;
    public bool IsLimitedBroadcast => Value == 0xFFFF_FFFF;
    public bool IsLoopback => (Value >> 24) == 127;
    public bool IsLinkLocal => (Value >> 16) == 0xA9FE;
    public bool IsAny => Value == 0;

    public static Ipv4Address Read(ReadOnlySpan<byte> four) => new(BinaryPrimitives.ReadUInt32BigEndian(four));
    public void Write(Span<byte> four) => BinaryPrimitives.WriteUInt32BigEndian(four, Value);

    public static bool TryParse(string? text, out Ipv4Address address)
    {
        address = default;
        if (text is null || !IPAddress.TryParse(text, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return false;
        // IPAddress.TryParse accepts "1" or "1.2"; insist on the dotted quad users write.
        if (text.Count(c => c == '.') != 3) return false;
        address = FromIPAddress(ip);
        return true;
    }

    public static Ipv4Address Parse(string text) =>
        TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not an IPv4 address; expected a dotted quad like 192.168.127.1");

    public static Ipv4Address FromIPAddress(IPAddress ip)
    {
        Span<byte> b = stackalloc byte[4];
        if (!ip.TryWriteBytes(b, out var n) || n != 4) throw new ArgumentException("not an IPv4 address", nameof(ip));
        return Read(b);
    }

    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[4];
        Write(b);
        return new IPAddress(b);
    }

    public int CompareTo(Ipv4Address other) => Value.CompareTo(other.Value);

    public static bool operator <(Ipv4Address left, Ipv4Address right) => left.Value < right.Value;
    public static bool operator <=(Ipv4Address left, Ipv4Address right) => left.Value <= right.Value;
    public static bool operator >(Ipv4Address left, Ipv4Address right) => left.Value > right.Value;
    public static bool operator >=(Ipv4Address left, Ipv4Address right) => left.Value >= right.Value;

    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";
}
