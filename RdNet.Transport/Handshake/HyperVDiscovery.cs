using System.Runtime.Versioning;
using Microsoft.Win32;
using RdNet.Transport.Links;

namespace RdNet.Transport.Handshake;

/// <summary>One VM the host may talk to: where to probe and where to accept its data link.</summary>
public sealed record VmCandidate(string Name, LinkEndpoint Handshake, LinkEndpoint DataListen);

/// <summary>
/// Finding the WSL utility VM on a Windows host (spec §2.2): every running compute system is a subkey (its GUID) of the
/// HCS volatile store; each is a candidate, probed on the handshake port, and the one that answers with a phrase wins.
/// Reading the key needs no administrator rights.
/// </summary>
public static class HyperVDiscovery
{
    public const string ComputeSystemKey = @"SOFTWARE\Microsoft\Windows NT\CurrentVersion\HostComputeService\VolatileStore\ComputeSystem";

    /// <summary>The candidates from the registry, each with hvsock:// endpoints on the two ports.</summary>
    [SupportedOSPlatform("windows")]
    public static IReadOnlyList<VmCandidate> FromRegistry(int handshakePort, int dataPort)
    {
        using var key = Registry.LocalMachine.OpenSubKey(ComputeSystemKey, writable: false)
            ?? throw new HandshakeException("could not open registry key, is WSL VM running?");
        var (vms, _) = ParseComputeSystems(key.GetSubKeyNames());
        return Candidates(vms, handshakePort, dataPort);
    }

    /// <summary>Subkey names that are GUIDs are compute systems; others are skipped (and reported).</summary>
    public static (IReadOnlyList<Guid> Vms, IReadOnlyList<string> Skipped) ParseComputeSystems(IEnumerable<string> subkeyNames)
    {
        var vms = new List<Guid>();
        var skipped = new List<string>();
        foreach (var name in subkeyNames)
        {
            if (Guid.TryParse(name, out var id)) vms.Add(id);
            else skipped.Add(name);
        }
        return (vms, skipped);
    }

    public static IReadOnlyList<VmCandidate> Candidates(IReadOnlyList<Guid> vms, int handshakePort, int dataPort)
    {
        if (vms.Count == 0) throw new HandshakeException("no running WSL VM found");
        return vms.Select(id => new VmCandidate(
            id.ToString(),
            new LinkEndpoint(LinkScheme.HvSock, "", null, 0, handshakePort, id),
            new LinkEndpoint(LinkScheme.HvSock, "", null, 0, dataPort, id))).ToList();
    }
}
