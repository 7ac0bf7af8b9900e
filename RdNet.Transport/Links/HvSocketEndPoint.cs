using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RdNet.Transport.Links;

/// <summary>
/// SOCKADDR_HV for Hyper-V sockets (AF_HYPERV = 34, Windows only; spec §2.1): how the Windows host reaches a Linux
/// guest's AF_VSOCK port. The layout is written by <see cref="Write"/> (pure, tested on any OS); the socket itself is
/// created only on Windows.
/// <code>
///  0      2          4                    20                   36
///  +------+----------+--------------------+--------------------+
///  |family| reserved | VmId (GUID)        | ServiceId (GUID)   |   GUIDs in Windows byte order: Data1-3 little-endian
///  +------+----------+--------------------+--------------------+
/// </code>
/// </summary>
public sealed class HvSocketEndPoint(Guid vmId, Guid serviceId) : EndPoint
{
    public const int AfHyperV = 34;
    public const int HvProtocolRaw = 1;
    public const int SockaddrLength = 36;
    private const int FamilyOffset = 0;
    private const int VmIdOffset = 4;
    private const int ServiceIdOffset = 20;

    /// <summary>HV_GUID_WILDCARD: listen for any VM (a VM-specific listener accepts only that VM).</summary>
    public static readonly Guid Wildcard = Guid.Empty;

    /// <summary>The vsock template (HV_GUID_VSOCK_TEMPLATE): port P is <c>PPPPPPPP-facb-11e6-bd58-64006a7986d3</c>.</summary>
    private static readonly Guid VsockTemplate = new("00000000-facb-11e6-bd58-64006a7986d3");

    public Guid VmId { get; } = vmId;
    public Guid ServiceId { get; } = serviceId;

    public override AddressFamily AddressFamily => (AddressFamily)AfHyperV;

    /// <summary>The service GUID under which a Linux guest's AF_VSOCK port is reachable from the host (spec §2.1).</summary>
    public static Guid ServiceIdForVsockPort(uint port)
    {
        Span<byte> b = stackalloc byte[16];
        VsockTemplate.TryWriteBytes(b);
        // Data1 (the first field, little-endian in Windows byte order) is the port.
        BinaryPrimitives.WriteUInt32LittleEndian(b, port);
        return new Guid(b);
    }

    /// <summary>The vsock port a template service GUID stands for, or null for any other GUID.</summary>
    public static uint? VsockPortOf(Guid serviceId)
    {
        Span<byte> b = stackalloc byte[16];
        Span<byte> t = stackalloc byte[16];
        serviceId.TryWriteBytes(b);
        VsockTemplate.TryWriteBytes(t);
        return b[4..].SequenceEqual(t[4..]) ? BinaryPrimitives.ReadUInt32LittleEndian(b) : null;
    }

    /// <summary>Writes the 36-byte SOCKADDR_HV.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < SockaddrLength) throw new ArgumentException($"SOCKADDR_HV needs {SockaddrLength} bytes", nameof(destination));
        destination[..SockaddrLength].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(destination[FamilyOffset..], AfHyperV);
        VmId.TryWriteBytes(destination.Slice(VmIdOffset, 16));
        ServiceId.TryWriteBytes(destination.Slice(ServiceIdOffset, 16));
    }

    public static HvSocketEndPoint Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < SockaddrLength || BinaryPrimitives.ReadUInt16LittleEndian(source) != AfHyperV)
            throw new ArgumentException("not a SOCKADDR_HV", nameof(source));
        return new HvSocketEndPoint(new Guid(source.Slice(VmIdOffset, 16)), new Guid(source.Slice(ServiceIdOffset, 16)));
    }

    public override SocketAddress Serialize()
    {
        // On Windows .NET passes unknown families through (notes/dotnet-platform.md §3).
        var sa = new SocketAddress(AddressFamily, SockaddrLength);
        Write(sa.Buffer.Span);
        return sa;
    }

    public override EndPoint Create(SocketAddress socketAddress) => Read(socketAddress.Buffer.Span[..socketAddress.Size]);

    public override string ToString() =>
        VsockPortOf(ServiceId) is { } port
            ? string.Create(CultureInfo.InvariantCulture, $"hvsock://{VmId}:{port}")
            : $"hvsock://{VmId}/{ServiceId}";
}
