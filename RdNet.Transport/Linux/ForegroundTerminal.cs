using System.Runtime.InteropServices;

namespace RdNet.Transport.Linux;

/// <summary>Whether this process is in the foreground job of its controlling terminal (whose Ctrl-C reaches its whole group).</summary>
public static partial class ForegroundTerminal
{
    private const int O_RDONLY = 0;
    private const int O_NOCTTY = 0x100;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "tcgetpgrp")]
    private static partial int TcGetPgrp(int fd);

    [LibraryImport("libc", EntryPoint = "getpgrp")]
    private static partial int GetPgrp();

    /// <summary>
    /// True when a terminal controls this process and our process group is its foreground group: then a SIGINT may
    /// be the terminal's Ctrl-C, which the kernel sent to every process of the group (our children included).
    /// </summary>
    public static bool IsForeground()
    {
        if (!OperatingSystem.IsLinux()) return false;
        var fd = Open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) return false; // no controlling terminal (a service, a script under setsid, a test)
        try
        {
            var foreground = TcGetPgrp(fd);
            return foreground > 0 && foreground == GetPgrp();
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
