using System.Globalization;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Gateway;

/// <summary>An IPv4 prefix such as 10.0.0.0/8 (a bare address means /32). The host bits must be zero.</summary>
public readonly record struct Ipv4Cidr(Ipv4Address Network, int PrefixLength)
{
    public const string ExpectedFormat = "an IPv4 CIDR such as 10.0.0.0/8 or a single address such as 10.1.2.3 (host bits zero)";

    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public bool Contains(Ipv4Address address) => (address.Value & Mask) == Network.Value;

    public static bool TryParse(string? text, out Ipv4Cidr cidr, out string? error)
    {
        cidr = default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"invalid CIDR '{text}': expected {ExpectedFormat}";
            return false;
        }
        var slash = text.IndexOf('/');
        var addressPart = slash < 0 ? text : text[..slash];
        var prefix = 32;
        if (!Ipv4Address.TryParse(addressPart, out var address)
            || (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > 32)))
        {
            error = $"invalid CIDR '{text}': expected {ExpectedFormat}";
            return false;
        }
        var candidate = new Ipv4Cidr(address, prefix);
        if ((address.Value & candidate.Mask) != address.Value)
        {
            error = $"invalid CIDR '{text}': host bits are set (did you mean {new Ipv4Address(address.Value & candidate.Mask)}/{prefix}?); expected {ExpectedFormat}";
            return false;
        }
        cidr = candidate;
        return true;
    }

    public static Ipv4Cidr Parse(string text) => TryParse(text, out var c, out var e) ? c : throw new FormatException(e);

    public override string ToString() => $"{Network}/{PrefixLength}";
}
