using System.Net;
using System.Net.Sockets;

namespace RdNet.Transport.WslProxy;

/// <summary>The transport of a published port (the part after "/" in a PortMapping key, spec §6.2).</summary>
public enum ProxyProtocol
{
    Tcp,
    Udp,
}

/// <summary>
/// One listener of wsl-proxy: protocol, the address it binds and the port. The key is the whole triple (the
/// original keyed listeners by port alone, so a second address for a port leaked the first listener, spec §6.3).
/// A null <see cref="Address"/> means every IPv4 and IPv6 address (HostIp "", "0.0.0.0" or "::").
/// </summary>
public sealed record ListenerKey(ProxyProtocol Protocol, IPAddress? Address, int Port)
{
    public bool IsAllAddresses => Address is null;

    public override string ToString()
    {
        var proto = Protocol == ProxyProtocol.Tcp ? "tcp" : "udp";
        var host = Address switch
        {
            null => "*",
            { AddressFamily: AddressFamily.InterNetworkV6 } a => $"[{a}]",
            var a => a.ToString(),
        };
        return $"{proto}/{host}:{Port}";
    }
}

/// <summary>
/// A validated PortMapping document: add (<see cref="Remove"/> false) or remove the listed listeners.
/// <see cref="Rejected"/> holds one reason per entry that was refused; the valid entries still apply.
/// </summary>
public sealed record PortMapping(bool Remove, IReadOnlyList<ListenerKey> Listeners, IReadOnlyList<string> Rejected);
