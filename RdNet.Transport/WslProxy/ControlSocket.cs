using System.Net.Sockets;
using Tmds.Linux;

namespace RdNet.Transport.WslProxy;

/// <summary>
/// The unix socket the guest agent writes PortMappings to (spec §6.2, default /run/wsl-proxy.sock). Created
/// owner-only (0600) before it accepts anything; a stale socket file left by a dead wsl-proxy is replaced, but a
/// live one (another wsl-proxy answering) or a file that is not a socket is never touched.
/// </summary>
public static class ControlSocket
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static Socket Bind(string path, int backlog)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            throw new IOException($"the directory of the control socket {full} does not exist");
        switch (Probe(full))
        {
            case PathKind.Missing:
                break;
            case PathKind.Socket:
                if (IsServed(full)) throw new IOException($"{full} is in use by another process (a wsl-proxy already answers on it)");
                File.Delete(full);
                break;
            default:
                throw new IOException($"{full} exists and is not a socket; refusing to replace it");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(full));
            // Before listen(): until then a connect is refused, so nobody connects while the mode is still the umask's.
            if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("wsl-proxy runs on Linux");
            File.SetUnixFileMode(full, Mode);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Removes the socket file if it is (still) a socket.</summary>
    public static void Remove(string path)
    {
        try
        {
            if (Probe(path) == PathKind.Socket) File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private enum PathKind
    {
        Missing,
        Socket,
        Other,
    }

    private static bool IsServed(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static unsafe PathKind Probe(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        statx st = default;
        int rc;
        fixed (byte* p = bytes)
        {
            rc = LibC.statx(LibC.AT_FDCWD, p, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE, &st);
        }
        if (rc != 0) return LibC.errno == LibC.ENOENT ? PathKind.Missing : PathKind.Other;
        return (st.stx_mode & LibC.S_IFMT) == LibC.S_IFSOCK ? PathKind.Socket : PathKind.Other;
    }
}
