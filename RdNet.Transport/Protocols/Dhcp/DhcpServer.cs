using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Protocols.Dhcp;

/// <summary>
/// Configuration of the DHCP server. <paramref name="Reserved"/> lists addresses never handed out from the pool
/// (the caller passes x.x.x.1 and x.x.x.254); <paramref name="MaxLeases"/> bounds dynamic (non-static) bindings;
/// <paramref name="OfferHold"/> is how long an offered address stays held for a client that has not yet requested it.
/// </summary>
public sealed record DhcpServerOptions(
    Ipv4Address ServerAddress,
    Ipv4Address Network,
    int PrefixLength,
    Ipv4Address Router,
    IReadOnlyList<Ipv4Address> DnsServers,
    int Mtu,
    TimeSpan LeaseTime,
    IReadOnlyDictionary<MacAddress, Ipv4Address> StaticLeases,
    IReadOnlyCollection<Ipv4Address> Reserved,
    IReadOnlyList<string> SearchDomains,
    int MaxLeases,
    TimeSpan OfferHold);

/// <summary>A reply and where RFC 2131 §4.1 says it goes (UDP port 68 is implied).</summary>
public sealed record DhcpReply(DhcpMessage Message, Ipv4Address DestinationAddress, MacAddress DestinationMac);

/// <summary>A binding as seen from outside: <paramref name="Offered"/> means offered but not yet requested.</summary>
public sealed record DhcpLease(MacAddress Mac, Ipv4Address Address, DateTimeOffset Expires, bool Static, bool Offered);

/// <summary>
/// Sans-IO RFC 2131 server: a parsed request and the current time in, an optional reply out. No clock, socket
/// or thread; leases expire when the caller passes a time at or past their expiry. Not thread-safe: one owner
/// (the DHCP actor) drives it.
/// </summary>
/// <remarks>
/// <see cref="Handle"/> returns null with <see cref="DropReason.None"/> when a message was consumed and needs
/// no reply (RELEASE, DECLINE); null with another reason is a drop the caller counts.
/// </remarks>
public sealed class DhcpServer
{
    private const string NakMessage = "requested address is not available to this client";

    private readonly DhcpServerOptions _options;
    private readonly uint _network;
    private readonly uint _broadcast;
    private readonly Ipv4Address _subnetMask;
    private readonly uint _leaseSeconds;
    private readonly HashSet<Ipv4Address> _notInPool = [];
    private readonly Dictionary<MacAddress, Binding> _byMac = [];
    private readonly Dictionary<Ipv4Address, MacAddress> _byAddress = [];
    private readonly Dictionary<Ipv4Address, DateTimeOffset> _declined = [];
    private readonly Ipv4Address[] _routers;
    private readonly Ipv4Address[]? _dnsServers;
    private readonly string[]? _searchDomains;
    private int _dynamicBindings;

    private readonly record struct Binding(Ipv4Address Address, DateTimeOffset Expires, bool Static, bool Offered);

    public DhcpServer(DhcpServerOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.PrefixLength is < 1 or > 30)
            throw new ArgumentOutOfRangeException(nameof(o), o.PrefixLength, "PrefixLength must be 1..30 so the subnet has host addresses");
        uint mask = uint.MaxValue << (32 - o.PrefixLength);
        if ((o.Network.Value & ~mask) != 0)
            throw new ArgumentException($"Network {o.Network} has host bits set for /{o.PrefixLength}; expected e.g. 192.168.127.0", nameof(o));
        if (o.Mtu is < 68 or > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(o), o.Mtu, "Mtu must be 68..65535");
        if (o.LeaseTime <= TimeSpan.Zero || o.OfferHold <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(o), "LeaseTime and OfferHold must be positive");
        if (o.MaxLeases < 0)
            throw new ArgumentOutOfRangeException(nameof(o), o.MaxLeases, "MaxLeases must not be negative");

        _options = o;
        _network = o.Network.Value;
        _broadcast = _network | ~mask;
        _subnetMask = new Ipv4Address(mask);
        _leaseSeconds = (uint)Math.Min(uint.MaxValue - 1, Math.Ceiling(o.LeaseTime.TotalSeconds));
        _routers = [o.Router];
        _dnsServers = o.DnsServers.Count > 0 ? [.. o.DnsServers] : null;
        // Validates the names once so emitting a reply never throws.
        _searchDomains = o.SearchDomains.Count > 0 ? [.. o.SearchDomains] : null;
        if (_searchDomains is not null) DhcpDomainSearch.Encode(_searchDomains);

        _notInPool.Add(o.ServerAddress);
        foreach (var r in o.Reserved) _notInPool.Add(r);
        var staticAddresses = new HashSet<Ipv4Address>();
        foreach (var (mac, address) in o.StaticLeases)
        {
            if (!IsHostAddress(address) || address == o.ServerAddress || o.Reserved.Contains(address))
                throw new ArgumentException($"static lease {address} for {mac} is not a free host address of {o.Network}/{o.PrefixLength}", nameof(o));
            if (!staticAddresses.Add(address))
                throw new ArgumentException($"static lease {address} is configured for more than one MAC", nameof(o));
            _notInPool.Add(address);
        }
    }

    /// <summary>Current bindings (offered and bound), ordered by address.</summary>
    public IReadOnlyList<DhcpLease> Leases =>
        [.. _byMac.OrderBy(kv => kv.Value.Address).Select(kv => new DhcpLease(kv.Key, kv.Value.Address, kv.Value.Expires, kv.Value.Static, kv.Value.Offered))];

    public DhcpReply? Handle(DhcpMessage request, DateTimeOffset now, out DropReason reason)
    {
        ArgumentNullException.ThrowIfNull(request);
        ExpireLeases(now);

        if (request.Op != DhcpOpCode.BootRequest)
        {
            reason = DropReason.DhcpNotBootRequest;
            return null;
        }

        if (request.HardwareType != DhcpPacket.EthernetHardwareType || request.HardwareLength != MacAddress.Length)
        {
            reason = DropReason.DhcpUnsupportedHardwareType;
            return null;
        }

        // A group or zero chaddr cannot own a lease, and unicasting a reply to it would fan out.
        if (request.ClientHardwareAddress.IsGroup || request.ClientHardwareAddress.IsZero)
        {
            reason = DropReason.DhcpBadClientHardwareAddress;
            return null;
        }

        // RFC 2131 §4.1: relayed requests are answered through the relay; a flat virtual switch has none.
        if (!request.RelayAddress.IsAny)
        {
            reason = DropReason.DhcpRelayNotSupported;
            return null;
        }

        switch (request.MessageType)
        {
            case DhcpMessageType.Discover: return Discover(request, now, out reason);
            case DhcpMessageType.Request: return Request(request, now, out reason);
            case DhcpMessageType.Decline: return Decline(request, now, out reason);
            case DhcpMessageType.Release: return Release(request, out reason);
            case DhcpMessageType.Inform:
                reason = DropReason.None;
                return Reply(request, DhcpMessageType.Ack, Ipv4Address.Any, withLeaseTime: false);
            case null:
                reason = DropReason.DhcpNoMessageType;
                return null;
            default:
                reason = DropReason.DhcpUnsupportedMessageType;
                return null;
        }
    }

    /// <summary>Frees every binding and declined mark whose time is up (<c>now &gt;= Expires</c>); returns freed bindings.</summary>
    public int ExpireLeases(DateTimeOffset now)
    {
        int freed = 0;
        foreach (var (mac, binding) in _byMac.ToArray())
        {
            if (now >= binding.Expires)
            {
                Unbind(mac, binding);
                freed++;
            }
        }

        foreach (var (address, until) in _declined.ToArray())
        {
            if (now >= until) _declined.Remove(address);
        }

        return freed;
    }

    // RFC 2131 §4.3.1
    private DhcpReply? Discover(DhcpMessage request, DateTimeOffset now, out DropReason reason)
    {
        var mac = request.ClientHardwareAddress;
        Ipv4Address address;
        if (_byMac.TryGetValue(mac, out var existing))
        {
            address = existing.Address;
            // A bound lease keeps its expiry; a pending offer is held again from now.
            if (existing.Offered) _byMac[mac] = existing with { Expires = now + _options.OfferHold };
        }
        else
        {
            if (_options.StaticLeases.TryGetValue(mac, out var fixedAddress))
            {
                address = fixedAddress;
            }
            else if (!TryPickPoolAddress(request.RequestedAddress, out address, out reason))
            {
                return null;
            }

            Bind(mac, address, now + _options.OfferHold, offered: true);
        }

        reason = DropReason.None;
        return Reply(request, DhcpMessageType.Offer, address, withLeaseTime: true);
    }

    // RFC 2131 §4.3.2
    private DhcpReply? Request(DhcpMessage request, DateTimeOffset now, out DropReason reason)
    {
        var mac = request.ClientHardwareAddress;
        Ipv4Address address;
        bool acceptable;
        if (request.ServerIdentifier is { } serverId)
        {
            // SELECTING. A client that chose another server releases our offer.
            if (serverId != _options.ServerAddress)
            {
                if (_byMac.TryGetValue(mac, out var offer) && offer.Offered) Unbind(mac, offer);
                reason = DropReason.DhcpNotForUs;
                return null;
            }

            address = request.RequestedAddress ?? Ipv4Address.Any;
            acceptable = Holds(mac, address);
        }
        else
        {
            // INIT-REBOOT names the address in option 50 with ciaddr 0; RENEWING/REBINDING put it in ciaddr.
            address = request.ClientAddress.IsAny ? request.RequestedAddress ?? Ipv4Address.Any : request.ClientAddress;
            acceptable = Holds(mac, address) || (!address.IsAny && CanTake(mac, address));
            if (!acceptable && !_byMac.ContainsKey(mac) && !_options.StaticLeases.ContainsKey(mac)
                && IsFree(address) && _dynamicBindings >= _options.MaxLeases)
            {
                // The address is fine but the table is full: stay silent rather than NAK, so the client retries.
                reason = DropReason.DhcpLeaseTableFull;
                return null;
            }
        }

        reason = DropReason.None;
        if (!acceptable) return Nak(request);

        Bind(mac, address, now + _options.LeaseTime, offered: false);
        return Reply(request, DhcpMessageType.Ack, address, withLeaseTime: true);
    }

    // RFC 2131 §4.3.3: the client found the address in use; keep it out of the pool for a lease time.
    private DhcpReply? Decline(DhcpMessage request, DateTimeOffset now, out DropReason reason)
    {
        if (request.ServerIdentifier is { } serverId && serverId != _options.ServerAddress)
        {
            reason = DropReason.DhcpNotForUs;
            return null;
        }

        var mac = request.ClientHardwareAddress;
        if (request.RequestedAddress is { } address && _byMac.TryGetValue(mac, out var binding) && binding.Address == address)
        {
            Unbind(mac, binding);
            if (!binding.Static) _declined[address] = now + _options.LeaseTime;
        }

        reason = DropReason.None;
        return null;
    }

    // RFC 2131 §4.3.4
    private DhcpReply? Release(DhcpMessage request, out DropReason reason)
    {
        if (request.ServerIdentifier is { } serverId && serverId != _options.ServerAddress)
        {
            reason = DropReason.DhcpNotForUs;
            return null;
        }

        var mac = request.ClientHardwareAddress;
        if (_byMac.TryGetValue(mac, out var binding) && binding.Address == request.ClientAddress) Unbind(mac, binding);
        reason = DropReason.None;
        return null;
    }

    /// <summary>True when <paramref name="address"/> is already this client's: its static address or its binding.</summary>
    private bool Holds(MacAddress mac, Ipv4Address address)
    {
        if (_options.StaticLeases.TryGetValue(mac, out var fixedAddress)) return address == fixedAddress;
        return _byMac.TryGetValue(mac, out var binding) && binding.Address == address;
    }

    /// <summary>
    /// True when a client without a binding may take <paramref name="address"/> (INIT-REBOOT after we forgot it,
    /// or a renewal after its lease ran out while the host slept): a free pool address and room in the table.
    /// </summary>
    private bool CanTake(MacAddress mac, Ipv4Address address) =>
        !_byMac.ContainsKey(mac) && !_options.StaticLeases.ContainsKey(mac) && IsFree(address) && _dynamicBindings < _options.MaxLeases;

    private bool TryPickPoolAddress(Ipv4Address? requested, out Ipv4Address address, out DropReason reason)
    {
        address = default;
        if (_dynamicBindings >= _options.MaxLeases)
        {
            reason = DropReason.DhcpLeaseTableFull;
            return false;
        }

        reason = DropReason.None;
        // RFC 2131 §4.3.1: offer the address the client asks for when it is free.
        if (requested is { } wanted && IsFree(wanted))
        {
            address = wanted;
            return true;
        }

        for (uint a = _network + 1; a < _broadcast; a++)
        {
            var candidate = new Ipv4Address(a);
            if (IsFree(candidate))
            {
                address = candidate;
                return true;
            }
        }

        reason = DropReason.DhcpPoolExhausted;
        return false;
    }

    private bool IsHostAddress(Ipv4Address address) =>
        address.Value > _network && address.Value < _broadcast;

    private bool IsFree(Ipv4Address address) =>
        IsHostAddress(address) && !_notInPool.Contains(address) && !_byAddress.ContainsKey(address) && !_declined.ContainsKey(address);

    private void Bind(MacAddress mac, Ipv4Address address, DateTimeOffset expires, bool offered)
    {
        bool isStatic = _options.StaticLeases.ContainsKey(mac);
        if (_byMac.TryGetValue(mac, out var old))
        {
            _byAddress.Remove(old.Address);
        }
        else if (!isStatic)
        {
            _dynamicBindings++;
        }

        _byMac[mac] = new Binding(address, expires, isStatic, offered);
        _byAddress[address] = mac;
    }

    private void Unbind(MacAddress mac, Binding binding)
    {
        _byMac.Remove(mac);
        _byAddress.Remove(binding.Address);
        if (!binding.Static) _dynamicBindings--;
    }

    private DhcpReply Nak(DhcpMessage request)
    {
        // RFC 2131 §4.3.2 / Table 3: NAK carries only type, server id and a message; §4.1: always broadcast.
        var message = new DhcpMessage
        {
            Op = DhcpOpCode.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
            MessageType = DhcpMessageType.Nak,
            ServerIdentifier = _options.ServerAddress,
            Message = NakMessage,
        };
        return new DhcpReply(message, Ipv4Address.Broadcast, MacAddress.Broadcast);
    }

    private DhcpReply Reply(DhcpMessage request, DhcpMessageType type, Ipv4Address yourAddress, bool withLeaseTime)
    {
        // RFC 2131 Table 3: ciaddr is echoed in ACK only; xid, flags, giaddr and chaddr always.
        var message = new DhcpMessage
        {
            Op = DhcpOpCode.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            ClientAddress = type == DhcpMessageType.Ack ? request.ClientAddress : Ipv4Address.Any,
            YourAddress = yourAddress,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
            MessageType = type,
            ServerIdentifier = _options.ServerAddress,
            LeaseTimeSeconds = withLeaseTime ? _leaseSeconds : null,
            SubnetMask = _subnetMask,
            Routers = _routers,
            DnsServers = _dnsServers,
            InterfaceMtu = (ushort)_options.Mtu,
            DomainSearch = _searchDomains,
        };

        // RFC 2131 §4.1: a client with an address gets unicast; one without (ciaddr 0) gets a broadcast,
        // which every client accepts whatever it set in the broadcast flag.
        return request.ClientAddress.IsAny
            ? new DhcpReply(message, Ipv4Address.Broadcast, MacAddress.Broadcast)
            : new DhcpReply(message, request.ClientAddress, request.ClientHardwareAddress);
    }
}
