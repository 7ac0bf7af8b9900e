using System.Buffers.Binary;
using System.Globalization;

namespace RdNet.Transport.Wire;

/// <summary>A 48-bit IEEE 802 MAC address held in the low bits of a ulong (no allocation, cheap to hash).</summary>
public readonly record struct MacAddress(ulong Value)
{
    public const int Length = 6;
    public static readonly MacAddress Broadcast = new(0xFFFF_FFFF_FFFFUL);
    public static readonly MacAddress Zero = new(0);

    /// <summary>The I/G bit (least significant bit of the first octet): set for group (multicast and broadcast) addresses.</summary>
    public bool IsGroup => ((Value >> 40) & 0x01) != 0;
    public bool IsBroadcast => Value == Broadcast.Value;
    public bool IsZero => Value == 0;

    public static MacAddress Read(ReadOnlySpan<byte> six)
    {
        ulong hi = BinaryPrimitives.ReadUInt16BigEndian(six);
        ulong lo = BinaryPrimitives.ReadUInt32BigEndian(six[2..]);
        return new MacAddress((hi << 32) | lo);
    }

    public void Write(Span<byte> six)
    {
        BinaryPrimitives.WriteUInt16BigEndian(six, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(six[2..], (uint)Value);
    }

    /// <summary>Parses "5a:94:ef:e4:0c:ee" (also '-' separated). Fails on anything else.</summary>
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null || text.Length != 17) return false;
        ulong v = 0;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && text[i * 3 - 1] is not (':' or '-')) return false;
            if (!byte.TryParse(text.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) return false;
            v = (v << 8) | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var m) ? m : throw new FormatException($"'{text}' is not a MAC address; expected six hex octets like 5a:94:ef:e4:0c:ee");

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}");
    }
}
