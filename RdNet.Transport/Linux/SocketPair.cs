using System.Net.Sockets;
using Tmds.Linux;

namespace RdNet.Transport.Linux;

/// <summary>socketpair(2): two connected AF_UNIX stream sockets, the in-process stand-in for a host connection.</summary>
public static class SocketPair
{
    public static unsafe (Socket First, Socket Second) CreateStream()
    {
        int* fds = stackalloc int[2];
        if (LibC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, fds) != 0)
            throw Native.Error("socketpair", "AF_UNIX stream");
        return (new Socket(new SafeSocketHandle(fds[0], ownsHandle: true)),
                new Socket(new SafeSocketHandle(fds[1], ownsHandle: true)));
    }
}
