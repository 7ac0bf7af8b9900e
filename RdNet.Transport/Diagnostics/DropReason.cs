namespace RdNet.Transport.Diagnostics;

/// <summary>
/// Every reason a frame, packet or message is refused. A refusal is never an exception on the hot path:
/// it is counted under one of these names (see <see cref="DropCounters"/>) and tests assert the count.
/// </summary>
public enum DropReason
{
    None = 0,

    // Stream framing (2-byte little-endian length prefix)
    FrameLengthZero,
    FrameLengthTooLarge,
    FrameTruncatedAtEof,

    // Ethernet II
    EthernetRunt,
    EthernetVlanRunt,
    EthernetUnsupportedType,

    // Switch
    SourceMacGroup,
    SourceMacZero,
    SourceMacIsGateway,
    UnknownUnicast,
    CamTableFull,
    FramePoolExhausted,
    EgressQueueFull,
    HairpinToIngress,

    // ARP
    ArpTruncated,
    ArpUnsupportedHardware,
    ArpUnsupportedProtocol,
    ArpNotForUs,
    ArpNotRequest,

    // IPv4
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4HeaderLengthTooSmall,
    Ipv4HeaderPastBuffer,
    Ipv4TotalLengthTooSmall,
    Ipv4TotalLengthPastBuffer,
    Ipv4BadHeaderChecksum,
    Ipv4BadOptions,
    Ipv4Fragment,
    Ipv4UnsupportedProtocol,
    Ipv4NotForGateway,
    Ipv4BadSource,

    // ICMPv4
    IcmpTruncated,
    IcmpBadChecksum,
    IcmpUnsupportedType,
    IcmpNotForGateway,

    // UDP
    UdpTruncated,
    UdpLengthTooSmall,
    UdpLengthPastPayload,
    UdpBadChecksum,
    UdpNoListener,

    // TCP
    TcpTruncated,
    TcpDataOffsetTooSmall,
    TcpDataOffsetPastSegment,
    TcpBadOption,
    TcpBadChecksum,
    TcpNoHandler,

    // DHCP / BOOTP
    DhcpTruncated,
    DhcpBadOp,
    DhcpBadHardwareLength,
    DhcpBadMagicCookie,
    DhcpOptionPastEnd,
    DhcpNoEndOption,
    DhcpNoMessageType,
    DhcpUnsupportedMessageType,
    DhcpNotForUs,
    DhcpBadOptionValue,
    DhcpNotBootRequest,
    DhcpUnsupportedHardwareType,
    DhcpBadClientHardwareAddress,
    DhcpRelayNotSupported,
    DhcpPoolExhausted,
    DhcpLeaseTableFull,

    // Egress policy (NAT of guest traffic onto host sockets)
    /// <summary>A destination that is never forwarded: 0/8, 127/8, multicast, 240/4, broadcast, or a virtual-subnet address other than .1/.254.</summary>
    EgressMartian,
    /// <summary>169.254.0.0/16 (cloud metadata and link-local), blocked unless an --outbound-allow entry covers it.</summary>
    EgressLinkLocal,
    /// <summary>Covered by an --outbound-deny entry.</summary>
    EgressDenied,
    /// <summary>--outbound-allow entries exist and none covers the destination.</summary>
    EgressNotAllowed,
    // DNS on the gateway (issue #3): malformed guest queries (FORMERR or dropped), load shedding, upstream failures
    DnsHeaderTruncated,
    DnsResponseFromGuest,
    DnsLabelTooLong,
    DnsNameTooLong,
    DnsNamePastEnd,
    DnsPointerNotBackward,
    DnsTooManyPointers,
    DnsRecordPastEnd,
    DnsNoQuestion,
    DnsManyQuestions,
    DnsManyOptRecords,
    DnsTcpLengthZero,
    DnsQueryLimit,
    DnsTcpConnectionLimit,
    DnsUpstreamTimeout,
    DnsUpstreamFailed,
    DnsUpstreamMalformed,
    DnsUpstreamMismatch,
    DnsQueryCrashed,
    // wsl-proxy (issue #8): port mappings from the guest agent and the relays they create
    WslProxyBadMapping,
    WslProxyBindFailed,
    WslProxyListenerLimit,
    WslProxyControlConnectionLimit,
    WslProxyConnectionLimit,
    WslProxyUpstreamConnectFailed,
    WslProxyUdpFlowLimit,
    WslProxyUdpSendFailed,

    // network-setup's relay between vm-switch and the host data link (issue #7)
    RelayPeerDown,
}
