using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace RdNet.Transport.Links;

/// <summary>
/// sockaddr_vm for AF_VSOCK (40). .NET refuses the family itself, so the socket is created through libc and this
/// endpoint reports <see cref="AddressFamily.Unknown"/> to match the wrapped socket (see notes/dotnet-platform.md §3).
/// </summary>
public sealed class VsockEndPoint(uint cid, uint port) : EndPoint
{
    public const int AfVsock = 40;
    public const uint CidAny = 0xFFFF_FFFF;
    public const uint CidHost = 2;

    // struct sockaddr_vm { sa_family_t svm_family; u16 svm_reserved1; u32 svm_port; u32 svm_cid; u8 svm_flags; u8 svm_zero[3]; }
    private const int FamilyOffset = 0;
    private const int PortOffset = 4;
    private const int CidOffset = 8;
    private const int SockaddrLength = 16;

    public uint Cid { get; } = cid;
    public uint Port { get; } = port;

    public override AddressFamily AddressFamily => AddressFamily.Unknown;

    public override SocketAddress Serialize()
    {
        var sa = new SocketAddress(AddressFamily.InterNetwork, SockaddrLength);
        var b = sa.Buffer.Span;
        b.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(b[FamilyOffset..], AfVsock);
        BinaryPrimitives.WriteUInt32LittleEndian(b[PortOffset..], Port);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CidOffset..], Cid);
        return sa;
    }

    public override EndPoint Create(SocketAddress socketAddress)
    {
        var b = socketAddress.Buffer.Span;
        return new VsockEndPoint(BinaryPrimitives.ReadUInt32LittleEndian(b[CidOffset..]), BinaryPrimitives.ReadUInt32LittleEndian(b[PortOffset..]));
    }

    public override string ToString() => $"vsock://{(Cid == CidAny ? "any" : Cid.ToString(System.Globalization.CultureInfo.InvariantCulture))}:{Port}";
}
