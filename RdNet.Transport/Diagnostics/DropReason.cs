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

    // TCP engine (RdNet.Transport/Tcp): segments a connection does not accept (RFC 9293 §3.10.7, RFC 5961, RFC 7323)
    /// <summary>Sequence number outside the receive window (answered with an ACK).</summary>
    TcpOutsideWindow,
    /// <summary>Data while our receive window is zero: a zero-window probe, answered with an ACK.</summary>
    TcpZeroWindowProbe,
    /// <summary>Timestamp older than TS.Recent (PAWS, RFC 7323 §5).</summary>
    TcpPawsRejected,
    /// <summary>RST whose sequence number is outside the window.</summary>
    TcpRstOutOfWindow,
    /// <summary>RST inside the window but not at RCV.NXT: answered with a challenge ACK (RFC 5961 §3).</summary>
    TcpRstChallenged,
    /// <summary>SYN on a synchronized connection: answered with a challenge ACK (RFC 5961 §4).</summary>
    TcpSynChallenged,
    /// <summary>A segment without ACK on a synchronized connection.</summary>
    TcpNoAck,
    /// <summary>ACK of data never sent (RFC 5961 §5).</summary>
    TcpAckOfUnsentData,
    /// <summary>ACK older than SND.UNA − MAX.SND.WND (RFC 5961 §5).</summary>
    TcpAckTooOld,
    /// <summary>An unacceptable ACK during the handshake (answered with RST).</summary>
    TcpBadHandshakeAck,
    /// <summary>Not a valid SYN to open a connection (ACK, RST or FIN set, or no SYN).</summary>
    TcpBadSyn,
    /// <summary>Out-of-order data that would need more reassembly ranges than the bound allows.</summary>
    TcpOutOfOrderQueueFull,
    /// <summary>Data past the right edge of the receive window (trimmed).</summary>
    TcpDataBeyondWindow,
    /// <summary>Data after our peer's FIN, or a segment for a closed connection.</summary>
    TcpSegmentAfterClose,
    /// <summary>A segment for a passive connection whose host side is still connecting.</summary>
    TcpNotYetAccepted,
    /// <summary>A SYN reusing a TIME-WAIT 4-tuple that RFC 6191 does not allow (old timestamp or sequence).</summary>
    TcpTimeWaitSynRejected,

    // TCP NAT (RdNet.Actors/Tcp): flows between guest connections and host sockets
    /// <summary>A new SYN while the flow table is at rdnet.tcp.max-flows.</summary>
    TcpNatFlowTableFull,
    /// <summary>A new SYN while rdnet.tcp.max-connects-in-flight host connects are pending.</summary>
    TcpNatConnectsInFlightFull,
    /// <summary>A non-SYN segment for no known flow (answered with RST).</summary>
    TcpNatNoFlow,
    /// <summary>The host refused or failed the connect (answered with RST).</summary>
    TcpNatConnectFailed,
    /// <summary>The host connect did not finish within rdnet.tcp.connect-timeout (answered with RST).</summary>
    TcpNatConnectTimeout,
    /// <summary>A SYN to a gateway port that no local service owns (answered with RST).</summary>
    TcpNatLocalPortClosed,
    /// <summary>A segment on the way to a flow that was stopping.</summary>
    TcpNatFlowGone,
    // UDP and ICMP NAT (issue 5)
    /// <summary>A host UDP socket for a new flow could not be created or connected (e.g. out of descriptors).</summary>
    UdpHostSocketFailed,
    /// <summary>The host refused or failed a send on a flow's socket (full buffer, unreachable network).</summary>
    UdpHostSendFailed,
    /// <summary>A reply from the host does not fit one frame at the MTU (no fragmentation towards the guest).</summary>
    UdpReplyTooLarge,
    /// <summary>Unprivileged ICMP sockets are not permitted on the host (net.ipv4.ping_group_range): no echo is forwarded.</summary>
    IcmpEchoUnavailable,
    /// <summary>Echo requests beyond rdnet.icmp.rate / burst.</summary>
    IcmpRateLimited,
    /// <summary>rdnet.icmp.max-pending echo requests already wait for their replies.</summary>
    IcmpEchoTableFull,
    /// <summary>The host could not send an echo request.</summary>
    IcmpEchoSendFailed,
    /// <summary>A reply on the host ICMP socket that answers no pending request (late, duplicate, or from another address).</summary>
    IcmpStrayReply,
    // network-setup's relay between vm-switch and the host data link (issue #7)
    RelayPeerDown,
    // TCP urgent data (issue #4, RELIABILITY row 10): urgent data is always delivered in line; these count an
    // urgent mark that was ignored, never the segment's data
    /// <summary>URG with an urgent pointer of 0: it names no urgent byte (RFC 9293 §3.8.5, RFC 6093).</summary>
    TcpUrgentPointerZero,
    /// <summary>URG with an urgent pointer past the segment's data (urgent data not in this segment).</summary>
    TcpUrgentPointerPastData,

    // Port forwarding (issue #6, RdNet.Actors/Forwarding): host connections and datagrams carried into the guest
    /// <summary>The guest answered a forwarded connection's SYN with RST (nothing listens there); the host client is reset.</summary>
    ForwardGuestRefused,
    /// <summary>The guest did not answer a forwarded connection's SYN within rdnet.tcp.connect-timeout; the host client is reset.</summary>
    ForwardGuestDialTimeout,
    /// <summary>A forwarded connection could not be dialled into the guest (bad address, table full, no free gateway port).</summary>
    ForwardDialRefused,
    /// <summary>A forward's accepted connections are at rdnet.forwarding.max-connections-per-forward: the new one is closed.</summary>
    ForwardConnectionLimit,
    /// <summary>A UDP forward's client flows are at rdnet.forwarding.max-udp-flows-per-forward: the datagram is dropped.</summary>
    ForwardUdpFlowLimit,
    /// <summary>A datagram from the guest to a gateway UDP port no forward flow owns.</summary>
    ForwardUdpNoFlow,
    /// <summary>A datagram could not be sent on a UDP forward's host socket, or does not fit a frame towards the guest.</summary>
    ForwardUdpSendFailed,
    /// <summary>A connection to the in-guest API (.1:80) while rdnet.forwarding.api-max-pending connections wait for the HTTP server.</summary>
    ForwardApiBacklogFull,

    // The switch (issue #4 review): frames switched on the thread they arrive on
    /// <summary>A frame from a port that was detached while its reader still held the frame (never learned, never switched).</summary>
    IngressPortDetached,

    // The tap's virtio-net header (issue #4, RdNet.Transport/Offload): frames read from a tap opened with IFF_VNET_HDR
    /// <summary>A read from the tap shorter than its virtio-net header.</summary>
    TapHeaderTruncated,
    /// <summary>The tap handed over a segment to cut (GSO) although no offload was asked for: it cannot go on the link as one frame.</summary>
    TapUnexpectedSegmentation,
    /// <summary>The tap asked for a checksum to be completed at a place outside the frame.</summary>
    TapChecksumOutOfFrame,

    // The gateway's one frame classifier (review leftovers 2, RdNet.Transport/Gateway/GatewayCore.Classify)
    /// <summary>A TCP segment for a unicast IP address that arrived by link-layer broadcast (RFC 1122 §3.3.6: discarded).</summary>
    TcpLinkBroadcast,
    /// <summary>A guest address the gateway learned (DHCP, ARP) beyond rdnet.switch.cam-capacity: not remembered; a forward to it uses the configured guest MAC.</summary>
    NeighborTableFull,
}
