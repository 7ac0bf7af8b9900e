using System.Buffers.Binary;
using System.Text;
using RdNet.Transport.Diagnostics;

namespace RdNet.Transport.Wire;

/// <summary>BOOTP op field (RFC 951 / RFC 2131 §2).</summary>
public enum DhcpOpCode : byte
{
    BootRequest = 1,
    BootReply = 2,
}

/// <summary>DHCP message type, option 53 (RFC 2132 §9.6).</summary>
public enum DhcpMessageType : byte
{
    Discover = 1,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

/// <summary>Option codes from RFC 2132 (and RFC 3397 for 119) that RdNet reads or writes.</summary>
public static class DhcpOptionCode
{
    public const byte Pad = 0;
    public const byte SubnetMask = 1;
    public const byte Router = 3;
    public const byte DomainNameServer = 6;
    public const byte HostName = 12;
    public const byte InterfaceMtu = 26;
    public const byte RequestedIpAddress = 50;
    public const byte LeaseTime = 51;
    public const byte OptionOverload = 52;
    public const byte MessageType = 53;
    public const byte ServerIdentifier = 54;
    public const byte ParameterRequestList = 55;
    public const byte Message = 56;
    public const byte MaximumMessageSize = 57;
    public const byte RenewalTime = 58;
    public const byte RebindingTime = 59;
    public const byte VendorClassIdentifier = 60;
    public const byte ClientIdentifier = 61;
    public const byte DomainSearch = 119;
    public const byte End = 255;
}

/// <summary>
/// A validated view over a DHCP/BOOTP message (the UDP payload). <see cref="TryCreate"/> checks the fixed
/// header, the magic cookie and that every option in the options field lies inside the buffer and that an
/// END option is present, so accessors and the option enumerator never check lengths again.
/// The sname/file fields are not searched for options (option overload, 52, is not honoured).
/// </summary>
public readonly ref struct DhcpPacket
{
    // RFC 2131 §2, Figure 1:
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +---------------+---------------+---------------+---------------+
    // |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
    // +---------------+---------------+---------------+---------------+
    // |                            xid (4)                            |
    // +-------------------------------+-------------------------------+
    // |           secs (2)            |           flags (2)           |
    // +-------------------------------+-------------------------------+
    // |                          ciaddr  (4)                          |
    // |                          yiaddr  (4)                          |
    // |                          siaddr  (4)                          |
    // |                          giaddr  (4)                          |
    // |                          chaddr  (16)                         |
    // |                          sname   (64)                         |
    // |                          file    (128)                        |
    // +---------------------------------------------------------------+
    // |            magic cookie 99.130.83.99 (4, RFC 2131 §3)         |
    // |                          options (variable)                   |
    // +---------------------------------------------------------------+
    public const int OpOffset = 0;
    public const int HardwareTypeOffset = 1;
    public const int HardwareLengthOffset = 2;
    public const int HopsOffset = 3;
    public const int TransactionIdOffset = 4;
    public const int SecondsOffset = 8;
    public const int FlagsOffset = 10;
    public const int ClientAddressOffset = 12;
    public const int YourAddressOffset = 16;
    public const int ServerAddressOffset = 20;
    public const int RelayAddressOffset = 24;
    public const int ClientHardwareAddressOffset = 28;
    public const int ClientHardwareAddressLength = 16;
    public const int ServerNameOffset = 44;
    public const int ServerNameLength = 64;
    public const int BootFileOffset = 108;
    public const int BootFileLength = 128;
    public const int FixedHeaderLength = 236;
    public const int MagicCookieOffset = 236;
    public const int OptionsOffset = 240;
    public const int MinimumLength = OptionsOffset;

    public const uint MagicCookie = 0x6382_5363; // 99.130.83.99
    public const byte EthernetHardwareType = 1;
    public const ushort BroadcastFlagMask = 0x8000; // RFC 2131 §2, Figure 2: the leftmost bit of flags

    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _endOptionOffset;

    private DhcpPacket(ReadOnlySpan<byte> buffer, int endOptionOffset)
    {
        _buffer = buffer;
        _endOptionOffset = endOptionOffset;
    }

    public static bool TryCreate(ReadOnlySpan<byte> udpPayload, out DhcpPacket view, out DropReason reason)
    {
        view = default;
        if (udpPayload.Length < MinimumLength)
        {
            reason = DropReason.DhcpTruncated;
            return false;
        }

        if (udpPayload[OpOffset] is not ((byte)DhcpOpCode.BootRequest or (byte)DhcpOpCode.BootReply))
        {
            reason = DropReason.DhcpBadOp;
            return false;
        }

        byte htype = udpPayload[HardwareTypeOffset];
        byte hlen = udpPayload[HardwareLengthOffset];
        if (hlen > ClientHardwareAddressLength || (htype == EthernetHardwareType && hlen != MacAddress.Length))
        {
            reason = DropReason.DhcpBadHardwareLength;
            return false;
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(udpPayload[MagicCookieOffset..]) != MagicCookie)
        {
            reason = DropReason.DhcpBadMagicCookie;
            return false;
        }

        // RFC 2132 §2: Pad (0) and End (255) are one byte; every other option is code, length, data.
        int i = OptionsOffset;
        while (true)
        {
            if (i >= udpPayload.Length)
            {
                reason = DropReason.DhcpNoEndOption;
                return false;
            }

            byte code = udpPayload[i];
            if (code == DhcpOptionCode.End) break;
            if (code == DhcpOptionCode.Pad)
            {
                i++;
                continue;
            }

            if (i + 1 >= udpPayload.Length || i + 2 + udpPayload[i + 1] > udpPayload.Length)
            {
                reason = DropReason.DhcpOptionPastEnd;
                return false;
            }

            i += 2 + udpPayload[i + 1];
        }

        view = new DhcpPacket(udpPayload, i);
        reason = DropReason.None;
        return true;
    }

    public DhcpOpCode Op => (DhcpOpCode)_buffer[OpOffset];
    public byte HardwareType => _buffer[HardwareTypeOffset];
    public byte HardwareLength => _buffer[HardwareLengthOffset];
    public byte Hops => _buffer[HopsOffset];
    public uint TransactionId => BinaryPrimitives.ReadUInt32BigEndian(_buffer[TransactionIdOffset..]);
    public ushort Seconds => BinaryPrimitives.ReadUInt16BigEndian(_buffer[SecondsOffset..]);
    public ushort Flags => BinaryPrimitives.ReadUInt16BigEndian(_buffer[FlagsOffset..]);
    public Ipv4Address ClientAddress => Ipv4Address.Read(_buffer[ClientAddressOffset..]);
    public Ipv4Address YourAddress => Ipv4Address.Read(_buffer[YourAddressOffset..]);
    public Ipv4Address ServerAddress => Ipv4Address.Read(_buffer[ServerAddressOffset..]);
    public Ipv4Address RelayAddress => Ipv4Address.Read(_buffer[RelayAddressOffset..]);

    /// <summary>The first six octets of chaddr; meaningful when <see cref="HardwareType"/> is Ethernet.</summary>
    public MacAddress ClientHardwareAddress => MacAddress.Read(_buffer[ClientHardwareAddressOffset..]);

    /// <summary>The options field up to, not including, the END option.</summary>
    public ReadOnlySpan<byte> OptionBytes => _buffer[OptionsOffset.._endOptionOffset];

    /// <summary>Total bytes up to and including the END option; anything after it is padding.</summary>
    public int LengthThroughEnd => _endOptionOffset + 1;

    public OptionEnumerator Options => new(OptionBytes);

    /// <summary>Data of the first occurrence of <paramref name="code"/> (no RFC 3396 concatenation).</summary>
    public bool TryGetOption(byte code, out ReadOnlySpan<byte> data)
    {
        foreach (var option in Options)
        {
            if (option.Code == code)
            {
                data = option.Data;
                return true;
            }
        }

        data = default;
        return false;
    }

    public readonly ref struct Option
    {
        public Option(byte code, ReadOnlySpan<byte> data)
        {
            Code = code;
            Data = data;
        }

        public byte Code { get; }
        public ReadOnlySpan<byte> Data { get; }
    }

    /// <summary>Walks an options area already validated by <see cref="TryCreate"/>; skips Pad.</summary>
    public ref struct OptionEnumerator
    {
        private readonly ReadOnlySpan<byte> _options;
        private int _next;

        internal OptionEnumerator(ReadOnlySpan<byte> options)
        {
            _options = options;
            _next = 0;
            Current = default;
        }

        public Option Current { get; private set; }

        public readonly OptionEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (_next < _options.Length && _options[_next] == DhcpOptionCode.Pad) _next++;
            if (_next >= _options.Length) return false;
            byte code = _options[_next];
            int length = _options[_next + 1];
            Current = new Option(code, _options.Slice(_next + 2, length));
            _next += 2 + length;
            return true;
        }
    }
}

/// <summary>An option RdNet has no typed property for, kept as raw data (already concatenated per RFC 3396).</summary>
public readonly record struct DhcpOption(byte Code, ReadOnlyMemory<byte> Data);

/// <summary>
/// An immutable DHCP message. Options with a typed property are read into it (repeated codes concatenated,
/// RFC 3396); every other option is kept in <see cref="OtherOptions"/>. <see cref="Emit"/> writes options in
/// <see cref="OptionOrder"/> first (so a parsed message re-encodes to its own bytes), then the rest.
/// </summary>
public sealed record DhcpMessage
{
    /// <summary>RFC 1542 §3.3 / RFC 951: the BOOTP message is at least 300 bytes; common servers pad to it.</summary>
    public const int MinimumEncodedLength = 300;

    private const int MaxOptionChunk = 255;

    // Typed options written when OptionOrder does not place them, in the order replies conventionally use.
    private static readonly byte[] DefaultOrder =
    [
        DhcpOptionCode.MessageType, DhcpOptionCode.ServerIdentifier, DhcpOptionCode.LeaseTime,
        DhcpOptionCode.RenewalTime, DhcpOptionCode.RebindingTime, DhcpOptionCode.SubnetMask,
        DhcpOptionCode.Router, DhcpOptionCode.DomainNameServer, DhcpOptionCode.InterfaceMtu,
        DhcpOptionCode.DomainSearch, DhcpOptionCode.Message, DhcpOptionCode.RequestedIpAddress,
        DhcpOptionCode.ClientIdentifier, DhcpOptionCode.HostName, DhcpOptionCode.ParameterRequestList,
        DhcpOptionCode.MaximumMessageSize,
    ];

    public DhcpOpCode Op { get; init; } = DhcpOpCode.BootRequest;
    public byte HardwareType { get; init; } = DhcpPacket.EthernetHardwareType;
    public byte HardwareLength { get; init; } = MacAddress.Length;
    public byte Hops { get; init; }
    public uint TransactionId { get; init; }
    public ushort Seconds { get; init; }
    public ushort Flags { get; init; }
    public bool BroadcastFlag => (Flags & DhcpPacket.BroadcastFlagMask) != 0;

    /// <summary>ciaddr.</summary>
    public Ipv4Address ClientAddress { get; init; }

    /// <summary>yiaddr.</summary>
    public Ipv4Address YourAddress { get; init; }

    /// <summary>siaddr.</summary>
    public Ipv4Address ServerAddress { get; init; }

    /// <summary>giaddr.</summary>
    public Ipv4Address RelayAddress { get; init; }

    /// <summary>chaddr (first six octets; the other ten are written as zero).</summary>
    public MacAddress ClientHardwareAddress { get; init; }

    public DhcpMessageType? MessageType { get; init; }                  // 53
    public Ipv4Address? RequestedAddress { get; init; }                 // 50
    public Ipv4Address? ServerIdentifier { get; init; }                 // 54
    public byte[]? ClientIdentifier { get; init; }                      // 61
    public string? HostName { get; init; }                              // 12
    public IReadOnlyList<byte>? ParameterRequestList { get; init; }     // 55
    public ushort? MaximumMessageSize { get; init; }                    // 57
    public Ipv4Address? SubnetMask { get; init; }                       // 1
    public IReadOnlyList<Ipv4Address>? Routers { get; init; }           // 3
    public IReadOnlyList<Ipv4Address>? DnsServers { get; init; }        // 6
    public ushort? InterfaceMtu { get; init; }                          // 26
    public uint? LeaseTimeSeconds { get; init; }                        // 51
    public uint? RenewalTimeSeconds { get; init; }                      // 58
    public uint? RebindingTimeSeconds { get; init; }                    // 59
    public IReadOnlyList<string>? DomainSearch { get; init; }           // 119
    public string? Message { get; init; }                               // 56

    public IReadOnlyList<DhcpOption> OtherOptions { get; init; } = [];

    /// <summary>Option codes in the order they appeared on the wire (set by <see cref="TryParse"/>).</summary>
    public IReadOnlyList<byte>? OptionOrder { get; init; }

    public static bool TryParse(ReadOnlySpan<byte> udpPayload, out DhcpMessage? message, out DropReason reason)
    {
        message = null;
        if (!DhcpPacket.TryCreate(udpPayload, out var packet, out reason)) return false;

        // RFC 3396: several instances of one code form a single option whose data is their concatenation.
        var order = new List<byte>();
        var data = new Dictionary<byte, byte[]>();
        foreach (var option in packet.Options)
        {
            if (data.TryGetValue(option.Code, out var earlier))
            {
                data[option.Code] = [.. earlier, .. option.Data];
            }
            else
            {
                order.Add(option.Code);
                data[option.Code] = option.Data.ToArray();
            }
        }

        if (!data.TryGetValue(DhcpOptionCode.MessageType, out var typeData))
        {
            reason = DropReason.DhcpNoMessageType;
            return false;
        }

        if (typeData.Length != 1)
        {
            reason = DropReason.DhcpBadOptionValue;
            return false;
        }

        if (typeData[0] is < (byte)DhcpMessageType.Discover or > (byte)DhcpMessageType.Inform)
        {
            reason = DropReason.DhcpUnsupportedMessageType;
            return false;
        }

        var others = new List<DhcpOption>();
        var m = new DhcpMessage
        {
            Op = packet.Op,
            HardwareType = packet.HardwareType,
            HardwareLength = packet.HardwareLength,
            Hops = packet.Hops,
            TransactionId = packet.TransactionId,
            Seconds = packet.Seconds,
            Flags = packet.Flags,
            ClientAddress = packet.ClientAddress,
            YourAddress = packet.YourAddress,
            ServerAddress = packet.ServerAddress,
            RelayAddress = packet.RelayAddress,
            ClientHardwareAddress = packet.ClientHardwareAddress,
            MessageType = (DhcpMessageType)typeData[0],
            OptionOrder = order,
            OtherOptions = others,
        };

        bool ok = true;
        foreach (var code in order)
        {
            var d = data[code];
            switch (code)
            {
                case DhcpOptionCode.MessageType:
                    break;
                case DhcpOptionCode.RequestedIpAddress:
                    ok &= TryAddress(d, out var requested);
                    m = m with { RequestedAddress = requested };
                    break;
                case DhcpOptionCode.ServerIdentifier:
                    ok &= TryAddress(d, out var serverId);
                    m = m with { ServerIdentifier = serverId };
                    break;
                case DhcpOptionCode.SubnetMask:
                    ok &= TryAddress(d, out var mask);
                    m = m with { SubnetMask = mask };
                    break;
                case DhcpOptionCode.Router:
                    ok &= TryAddressList(d, out var routers);
                    m = m with { Routers = routers };
                    break;
                case DhcpOptionCode.DomainNameServer:
                    ok &= TryAddressList(d, out var dns);
                    m = m with { DnsServers = dns };
                    break;
                case DhcpOptionCode.ClientIdentifier:
                    // RFC 2132 §9.14: type octet plus at least one identifier octet.
                    ok &= d.Length >= 2;
                    m = m with { ClientIdentifier = d };
                    break;
                case DhcpOptionCode.HostName:
                    ok &= d.Length >= 1;
                    m = m with { HostName = Encoding.UTF8.GetString(d) };
                    break;
                case DhcpOptionCode.Message:
                    ok &= d.Length >= 1;
                    m = m with { Message = Encoding.UTF8.GetString(d) };
                    break;
                case DhcpOptionCode.ParameterRequestList:
                    ok &= d.Length >= 1;
                    m = m with { ParameterRequestList = d };
                    break;
                case DhcpOptionCode.MaximumMessageSize:
                    ok &= TryUInt16(d, out var maxSize);
                    m = m with { MaximumMessageSize = maxSize };
                    break;
                case DhcpOptionCode.InterfaceMtu:
                    ok &= TryUInt16(d, out var mtu);
                    m = m with { InterfaceMtu = mtu };
                    break;
                case DhcpOptionCode.LeaseTime:
                    ok &= TryUInt32(d, out var lease);
                    m = m with { LeaseTimeSeconds = lease };
                    break;
                case DhcpOptionCode.RenewalTime:
                    ok &= TryUInt32(d, out var t1);
                    m = m with { RenewalTimeSeconds = t1 };
                    break;
                case DhcpOptionCode.RebindingTime:
                    ok &= TryUInt32(d, out var t2);
                    m = m with { RebindingTimeSeconds = t2 };
                    break;
                case DhcpOptionCode.DomainSearch:
                    ok &= DhcpDomainSearch.TryDecode(d, out var search);
                    m = m with { DomainSearch = search };
                    break;
                default:
                    others.Add(new DhcpOption(code, d));
                    break;
            }

            if (!ok)
            {
                reason = DropReason.DhcpBadOptionValue;
                return false;
            }
        }

        message = m;
        reason = DropReason.None;
        return true;
    }

    /// <summary>Bytes <see cref="Emit"/> writes: header, cookie, options, END, zero padding to 300.</summary>
    public int EncodedLength => Math.Max(MinimumEncodedLength, DhcpPacket.OptionsOffset + OptionsLength(CollectOptions()) + 1);

    /// <summary>
    /// Writes the whole message, including zeroed sname/file and padding, so no byte of <paramref name="dst"/>
    /// below the returned length keeps earlier content. Throws if <paramref name="dst"/> is shorter than
    /// <see cref="EncodedLength"/> (a caller bug, not bad input).
    /// </summary>
    public int Emit(Span<byte> dst)
    {
        var options = CollectOptions();
        int length = Math.Max(MinimumEncodedLength, DhcpPacket.OptionsOffset + OptionsLength(options) + 1);
        if (dst.Length < length)
            throw new ArgumentException($"destination holds {dst.Length} bytes; the message needs {length}", nameof(dst));

        var b = dst[..length];
        b.Clear();
        b[DhcpPacket.OpOffset] = (byte)Op;
        b[DhcpPacket.HardwareTypeOffset] = HardwareType;
        b[DhcpPacket.HardwareLengthOffset] = HardwareLength;
        b[DhcpPacket.HopsOffset] = Hops;
        BinaryPrimitives.WriteUInt32BigEndian(b[DhcpPacket.TransactionIdOffset..], TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(b[DhcpPacket.SecondsOffset..], Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(b[DhcpPacket.FlagsOffset..], Flags);
        ClientAddress.Write(b[DhcpPacket.ClientAddressOffset..]);
        YourAddress.Write(b[DhcpPacket.YourAddressOffset..]);
        ServerAddress.Write(b[DhcpPacket.ServerAddressOffset..]);
        RelayAddress.Write(b[DhcpPacket.RelayAddressOffset..]);
        ClientHardwareAddress.Write(b[DhcpPacket.ClientHardwareAddressOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[DhcpPacket.MagicCookieOffset..], DhcpPacket.MagicCookie);

        int p = DhcpPacket.OptionsOffset;
        foreach (var (code, data) in options)
        {
            // RFC 3396: data longer than 255 bytes goes out as consecutive instances of the same code.
            int offset = 0;
            do
            {
                int chunk = Math.Min(MaxOptionChunk, data.Length - offset);
                b[p] = code;
                b[p + 1] = (byte)chunk;
                data.AsSpan(offset, chunk).CopyTo(b[(p + 2)..]);
                p += 2 + chunk;
                offset += chunk;
            }
            while (offset < data.Length);
        }

        b[p] = DhcpOptionCode.End;
        return length;
    }

    private static int OptionsLength(List<(byte Code, byte[] Data)> options)
    {
        int total = 0;
        foreach (var (_, data) in options)
        {
            int chunks = Math.Max(1, (data.Length + MaxOptionChunk - 1) / MaxOptionChunk);
            total += 2 * chunks + data.Length;
        }

        return total;
    }

    private List<(byte Code, byte[] Data)> CollectOptions()
    {
        var result = new List<(byte, byte[])>();
        var done = new HashSet<byte>();
        foreach (var code in OptionOrder ?? []) Add(code);
        foreach (var code in DefaultOrder) Add(code);
        foreach (var option in OtherOptions) Add(option.Code);
        return result;

        void Add(byte code)
        {
            if (code is DhcpOptionCode.Pad or DhcpOptionCode.End || !done.Add(code)) return;
            var data = TypedOptionData(code);
            if (data is null)
            {
                foreach (var option in OtherOptions)
                {
                    if (option.Code == code)
                    {
                        data = option.Data.ToArray();
                        break;
                    }
                }
            }

            if (data is not null) result.Add((code, data));
        }
    }

    private byte[]? TypedOptionData(byte code) => code switch
    {
        DhcpOptionCode.MessageType when MessageType is { } t => [(byte)t],
        DhcpOptionCode.RequestedIpAddress when RequestedAddress is { } a => AddressBytes([a]),
        DhcpOptionCode.ServerIdentifier when ServerIdentifier is { } a => AddressBytes([a]),
        DhcpOptionCode.SubnetMask when SubnetMask is { } a => AddressBytes([a]),
        DhcpOptionCode.Router when Routers is { Count: > 0 } list => AddressBytes(list),
        DhcpOptionCode.DomainNameServer when DnsServers is { Count: > 0 } list => AddressBytes(list),
        DhcpOptionCode.ClientIdentifier when ClientIdentifier is { } id => id,
        DhcpOptionCode.HostName when HostName is { } s => Encoding.UTF8.GetBytes(s),
        DhcpOptionCode.Message when Message is { } s => Encoding.UTF8.GetBytes(s),
        DhcpOptionCode.ParameterRequestList when ParameterRequestList is { } list => [.. list],
        DhcpOptionCode.MaximumMessageSize when MaximumMessageSize is { } v => UInt16Bytes(v),
        DhcpOptionCode.InterfaceMtu when InterfaceMtu is { } v => UInt16Bytes(v),
        DhcpOptionCode.LeaseTime when LeaseTimeSeconds is { } v => UInt32Bytes(v),
        DhcpOptionCode.RenewalTime when RenewalTimeSeconds is { } v => UInt32Bytes(v),
        DhcpOptionCode.RebindingTime when RebindingTimeSeconds is { } v => UInt32Bytes(v),
        DhcpOptionCode.DomainSearch when DomainSearch is { } list => DhcpDomainSearch.Encode(list),
        _ => null,
    };

    private static byte[] AddressBytes(IReadOnlyList<Ipv4Address> addresses)
    {
        var bytes = new byte[addresses.Count * Ipv4Address.Length];
        for (int i = 0; i < addresses.Count; i++) addresses[i].Write(bytes.AsSpan(i * Ipv4Address.Length));
        return bytes;
    }

    private static byte[] UInt16Bytes(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] UInt32Bytes(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    private static bool TryAddress(byte[] data, out Ipv4Address? address)
    {
        address = data.Length == Ipv4Address.Length ? Ipv4Address.Read(data) : null;
        return address is not null;
    }

    private static bool TryAddressList(byte[] data, out IReadOnlyList<Ipv4Address>? addresses)
    {
        addresses = null;
        if (data.Length == 0 || data.Length % Ipv4Address.Length != 0) return false;
        var list = new Ipv4Address[data.Length / Ipv4Address.Length];
        for (int i = 0; i < list.Length; i++) list[i] = Ipv4Address.Read(data.AsSpan(i * Ipv4Address.Length));
        addresses = list;
        return true;
    }

    private static bool TryUInt16(byte[] data, out ushort? value)
    {
        value = data.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(data) : null;
        return value is not null;
    }

    private static bool TryUInt32(byte[] data, out uint? value)
    {
        value = data.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(data) : null;
        return value is not null;
    }
}

/// <summary>
/// Option 119, Domain Search (RFC 3397): a sequence of domain names in RFC 1035 §3.1 label encoding.
/// We encode without compression; decoding follows only backward compression pointers, with a hop limit.
/// </summary>
public static class DhcpDomainSearch
{
    private const int MaxLabelLength = 63;      // RFC 1035 §2.3.4
    private const int MaxNameLength = 255;      // RFC 1035 §2.3.4, counted in encoded octets
    private const int MaxPointerHops = 16;
    private const byte PointerMask = 0xC0;

    /// <summary>Encodes the names; throws <see cref="ArgumentException"/> for a name that is not valid ASCII labels.</summary>
    public static byte[] Encode(IReadOnlyList<string> domains)
    {
        ArgumentNullException.ThrowIfNull(domains);
        var output = new List<byte>();
        foreach (var domain in domains)
        {
            var name = domain.EndsWith('.') ? domain[..^1] : domain;
            int start = output.Count;
            if (name.Length > 0)
            {
                foreach (var label in name.Split('.'))
                {
                    if (label.Length is 0 or > MaxLabelLength)
                        throw new ArgumentException($"'{domain}' has an empty label or one longer than {MaxLabelLength} characters", nameof(domains));
                    output.Add((byte)label.Length);
                    foreach (char c in label)
                    {
                        if (c > 0x7F)
                            throw new ArgumentException($"'{domain}' is not ASCII; expected a name like example.com (use punycode)", nameof(domains));
                        output.Add((byte)c);
                    }
                }
            }

            output.Add(0);
            if (output.Count - start > MaxNameLength)
                throw new ArgumentException($"'{domain}' is longer than {MaxNameLength} octets encoded", nameof(domains));
        }

        return [.. output];
    }

    public static bool TryDecode(ReadOnlySpan<byte> data, out IReadOnlyList<string>? domains)
    {
        domains = null;
        var names = new List<string>();
        int position = 0;
        while (position < data.Length)
        {
            if (!TryReadName(data, ref position, out var name)) return false;
            names.Add(name);
        }

        domains = names;
        return true;
    }

    private static bool TryReadName(ReadOnlySpan<byte> data, ref int position, out string name)
    {
        name = string.Empty;
        var builder = new StringBuilder();
        int p = position;
        int encoded = 0;
        int hops = 0;
        bool jumped = false;
        while (true)
        {
            if (p >= data.Length) return false;
            byte length = data[p];
            if (length == 0)
            {
                if (!jumped) position = p + 1;
                break;
            }

            if ((length & PointerMask) == PointerMask)
            {
                if (p + 1 >= data.Length) return false;
                int target = ((length & ~PointerMask) << 8) | data[p + 1];
                // Only backward pointers: a forward or self pointer could loop or read unvalidated bytes.
                if (target >= p || ++hops > MaxPointerHops) return false;
                if (!jumped) position = p + 2;
                jumped = true;
                p = target;
                continue;
            }

            if ((length & PointerMask) != 0 || p + 1 + length > data.Length) return false;
            encoded += 1 + length;
            if (encoded + 1 > MaxNameLength) return false;
            if (builder.Length > 0) builder.Append('.');
            foreach (byte c in data.Slice(p + 1, length)) builder.Append((char)c);
            p += 1 + length;
        }

        name = builder.ToString();
        return true;
    }
}
