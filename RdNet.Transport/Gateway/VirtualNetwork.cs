using System.Globalization;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Gateway;

/// <summary>
/// The addresses of the virtual network, derived from <c>--subnet</c> as the original does (spec §4.1): the first
/// three octets of the address part give .1 (gateway, DNS, DHCP, API), .2 (the guest's static lease) and .254
/// (the host alias); the prefix length gives the mask and the DHCP pool.
/// </summary>
public sealed record VirtualNetwork(
    Ipv4Address Network,
    int PrefixLength,
    Ipv4Address Gateway,
    Ipv4Address Guest,
    Ipv4Address HostAlias,
    MacAddress GatewayMac,
    MacAddress GuestMac,
    int Mtu)
{
    public const string DefaultSubnet = "192.168.127.0/24";
    public static readonly MacAddress DefaultGatewayMac = new(0x5a94_efe4_0cddUL);
    public static readonly MacAddress DefaultGuestMac = new(0x5a94_efe4_0ceeUL);
    public const int DefaultMtu = 1500;
    public const string ExpectedFormat = "an IPv4 CIDR such as 192.168.127.0/24, with a prefix length from 8 to 24";

    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
    public Ipv4Address SubnetMask => new(Mask);
    public Ipv4Address DirectedBroadcast => new(Network.Value | ~Mask);

    public bool Contains(Ipv4Address address) => (address.Value & Mask) == Network.Value;

    /// <summary>An address a guest may hold: inside the subnet, and not the gateway, the host alias, the network or the broadcast address.</summary>
    public bool IsGuestAddress(Ipv4Address address) =>
        Contains(address) && address != Gateway && address != HostAlias && address != Network && address != DirectedBroadcast;

    public static bool TryParse(string? cidr, out VirtualNetwork? network, out string? error, MacAddress? guestMac = null)
    {
        network = null;
        error = null;
        var slash = cidr?.IndexOf('/') ?? -1;
        if (cidr is null || slash <= 0
            || !Ipv4Address.TryParse(cidr[..slash], out var address)
            || !int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix))
        {
            error = $"invalid subnet '{cidr}': expected {ExpectedFormat}";
            return false;
        }
        // .1, .2 and .254 of the first three octets must be host addresses inside the subnet.
        if (prefix is < 8 or > 24)
        {
            error = $"invalid subnet '{cidr}': prefix /{prefix} is out of range; expected {ExpectedFormat}";
            return false;
        }
        var mask = uint.MaxValue << (32 - prefix);
        var baseAddr = address.Value & 0xFFFF_FF00;
        network = new VirtualNetwork(
            new Ipv4Address(address.Value & mask),
            prefix,
            new Ipv4Address(baseAddr | 1),
            new Ipv4Address(baseAddr | 2),
            new Ipv4Address(baseAddr | 254),
            DefaultGatewayMac,
            guestMac ?? DefaultGuestMac,
            DefaultMtu);
        return true;
    }

    public static VirtualNetwork Parse(string cidr) =>
        TryParse(cidr, out var n, out var e) ? n! : throw new FormatException(e);

    public override string ToString() => $"{Network}/{PrefixLength}";
}
