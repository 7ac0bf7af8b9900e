using System.Runtime.InteropServices;

namespace RdNet.Transport.Linux;

/// <summary>
/// A Linux system call on a network object failed. The message names the operation, the object
/// (interface, device node or namespace path) and the strerror text, e.g.
/// "SIOCSIFHWADDR on eth0: Operation not permitted (errno 1)".
/// </summary>
public sealed class LinuxNetworkException : Exception
{
    public LinuxNetworkException(string operation, string? target, int errno)
        : base(FormatMessage(operation, target, errno))
    {
        Operation = operation;
        Target = target;
        Errno = errno;
    }

    /// <summary>The errno value the kernel returned.</summary>
    public int Errno { get; }

    /// <summary>The failed operation: an ioctl request name or a syscall name.</summary>
    public string Operation { get; }

    /// <summary>The interface name or path the operation was applied to, when there is one.</summary>
    public string? Target { get; }

    private static string FormatMessage(string operation, string? target, int errno)
    {
        var text = Marshal.GetPInvokeErrorMessage(errno);
        return target is null
            ? $"{operation}: {text} (errno {errno})"
            : $"{operation} on {target}: {text} (errno {errno})";
    }
}
