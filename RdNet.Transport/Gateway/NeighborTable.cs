using System.Collections.Concurrent;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Gateway;

/// <summary>
/// Which MAC a guest address has on the virtual link, as the gateway learned it from the control plane: the DHCP
/// leases it acknowledged and the ARP requests it answered (RFC 826: the one asking for us is our neighbour; any
/// later ARP from an address already known updates it). Written by <see cref="GatewayCore"/> on the gateway's actor,
/// read by services that address a guest before that guest has sent them anything (a port forward's first datagram
/// or dial). Nothing is learned per data frame, so the data path pays nothing. Thread-safe; at most
/// <c>capacity</c> addresses (rdnet.switch.cam-capacity: each is a station of the switch), a new one beyond that is
/// counted as <see cref="DropReason.NeighborTableFull"/> and not remembered (its guest then gets the configured MAC).
/// </summary>
public sealed class NeighborTable(VirtualNetwork network, int capacity, DropCounters drops)
{
    private readonly ConcurrentDictionary<Ipv4Address, MacAddress> _macs = new();

    public int Count => _macs.Count;

    /// <summary>Where <see cref="DropReason.NeighborTableFull"/> is counted (the gateway's counters).</summary>
    public DropCounters Drops => drops;

    /// <summary>The MAC last learned for <paramref name="address"/>.</summary>
    public bool TryGet(Ipv4Address address, out MacAddress mac) => _macs.TryGetValue(address, out mac);

    /// <summary>The MAC for <paramref name="address"/>: the learned one, else the configured guest MAC.</summary>
    public MacAddress MacFor(Ipv4Address address) => _macs.TryGetValue(address, out var mac) ? mac : network.GuestMac;

    /// <summary>
    /// Remembers <paramref name="mac"/> for <paramref name="address"/> when that is a guest address of the subnet
    /// (not .1, .254, the network or broadcast address) and the MAC a unicast one. False when refused or full.
    /// </summary>
    public bool Learn(Ipv4Address address, MacAddress mac)
    {
        if (!network.IsGuestAddress(address) || mac.IsGroup || mac.IsZero) return false;
        if (_macs.Count >= capacity && !_macs.ContainsKey(address))
        {
            drops.Increment(DropReason.NeighborTableFull);
            return false;
        }
        _macs[address] = mac;
        return true;
    }

    /// <summary>Updates <paramref name="address"/> only if it is known already (RFC 826's merge step).</summary>
    public bool Update(Ipv4Address address, MacAddress mac)
    {
        if (!_macs.ContainsKey(address) || mac.IsGroup || mac.IsZero) return false;
        _macs[address] = mac;
        return true;
    }
}
