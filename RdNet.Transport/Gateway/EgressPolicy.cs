using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Gateway;

/// <summary>
/// Where guest traffic may go on the host, shared by the TCP, UDP and ICMP NAT. <see cref="TryResolve"/> maps the
/// address the guest used to the host address a socket connects to (.254 → 127.0.0.1, spec §4.1) and applies, in
/// order: destinations that are never forwarded (martians), <c>--outbound-deny</c>, <c>--outbound-allow</c> (when
/// any is given, only those), and the built-in block of 169.254.0.0/16 (cloud metadata services answer there),
/// which only an explicit allow entry covering the address lifts.
/// </summary>
public sealed class EgressPolicy
{
    private static readonly Ipv4Address HostLoopback = Ipv4Address.Parse("127.0.0.1");

    public EgressPolicy(IReadOnlyList<Ipv4Cidr> allow, IReadOnlyList<Ipv4Cidr> deny)
    {
        Allow = allow;
        Deny = deny;
    }

    /// <summary>No allow list, no deny list: everything but martians and link-local.</summary>
    public static EgressPolicy Default { get; } = new([], []);

    public IReadOnlyList<Ipv4Cidr> Allow { get; }
    public IReadOnlyList<Ipv4Cidr> Deny { get; }

    /// <summary>
    /// The host address for a guest destination, or false with the drop reason. <paramref name="network"/> gives the
    /// host alias and the virtual subnet (whose other addresses are never NATed).
    /// </summary>
    public bool TryResolve(Ipv4Address guestDestination, VirtualNetwork network, out Ipv4Address hostAddress, out DropReason reason)
    {
        hostAddress = default;
        if (guestDestination == network.HostAlias)
        {
            hostAddress = HostLoopback;
        }
        else if (IsMartian(guestDestination) || network.Contains(guestDestination))
        {
            reason = DropReason.EgressMartian;
            return false;
        }
        else
        {
            hostAddress = guestDestination;
        }

        foreach (var d in Deny)
        {
            if (d.Contains(hostAddress))
            {
                reason = DropReason.EgressDenied;
                return false;
            }
        }
        var allowed = false;
        foreach (var a in Allow)
        {
            if (a.Contains(hostAddress))
            {
                allowed = true;
                break;
            }
        }
        if (Allow.Count > 0 && !allowed)
        {
            reason = DropReason.EgressNotAllowed;
            return false;
        }
        if (hostAddress.IsLinkLocal && !allowed)
        {
            reason = DropReason.EgressLinkLocal;
            return false;
        }
        reason = DropReason.None;
        return true;
    }

    /// <summary>0/8, 127/8 (a guest's own loopback never leaves it), multicast, 240/4 and the limited broadcast.</summary>
    public static bool IsMartian(Ipv4Address a) =>
        (a.Value >> 24) == 0 || a.IsLoopback || a.IsMulticast || (a.Value >> 28) == 0xF;

    public override string ToString() =>
        $"allow [{string.Join(", ", Allow)}] deny [{string.Join(", ", Deny)}] (169.254.0.0/16 blocked unless allowed)";
}
