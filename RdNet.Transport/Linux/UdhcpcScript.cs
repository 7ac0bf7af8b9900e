namespace RdNet.Transport.Linux;

/// <summary>
/// The udhcpc script rdnet writes for a namespace's tap (rdnet up/run, and the end-to-end tests' sandbox): configures
/// the interface with ip(8) — address, mask, MTU, default route — and never touches /etc/resolv.conf (udhcpc's
/// default script would, and that file is the machine's when the mount namespace is shared).
/// </summary>
public static class UdhcpcScript
{
    /// <summary>
    /// The script's text. <paramref name="onBound"/>: one more shell line run after the interface is configured on
    /// bound and renew (the tests record what udhcpc passed), or none.
    /// </summary>
    public static string Build(string? onBound = null)
    {
        if (onBound is not null && onBound.Contains('\n', StringComparison.Ordinal))
            throw new ArgumentException("one line", nameof(onBound));
        var extra = onBound is null ? "" : $"\n    {onBound}";
        return $$"""
            #!/bin/sh
            case "$1" in
              deconfig)
                ip -4 addr flush dev "$interface"
                ip link set dev "$interface" up
                ;;
              bound|renew)
                ip -4 addr flush dev "$interface"
                ip addr add "$ip/$mask" dev "$interface"
                [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
                for r in $router; do ip route replace default via "$r" dev "$interface"; break; done{{extra}}
                ;;
            esac
            exit 0

            """.Replace("\r", "", StringComparison.Ordinal);
    }
}
