using System.Runtime.ExceptionServices;
using Tmds.Linux;

namespace RdNet.Transport.Linux;

/// <summary>
/// Runs code inside another network namespace. setns(CLONE_NEWNET) changes only the calling OS
/// thread, and that change would stick to a pool thread forever, so each call uses a brand-new
/// dedicated thread that enters the namespace, runs the action and ends. Sockets and TAP
/// descriptors opened inside stay in that namespace and may be used from any thread afterwards.
/// </summary>
public static class NetNamespace
{
    /// <summary>Where `ip netns add` bind-mounts named namespaces.</summary>
    public const string NamedNamespaceDirectory = "/var/run/netns";

    public static T RunIn<T>(string namespaceName, Func<T> action) =>
        RunInPath(PathOf(namespaceName), action);

    public static void RunIn(string namespaceName, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        RunInPath(PathOf(namespaceName), () => { action(); return true; });
    }

    /// <summary>Like <see cref="RunIn{T}"/> for any namespace file, e.g. /proc/&lt;pid&gt;/ns/net.</summary>
    public static T RunInPath<T>(string netnsPath, Func<T> action)
    {
        ArgumentException.ThrowIfNullOrEmpty(netnsPath);
        ArgumentNullException.ThrowIfNull(action);

        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(netnsPath);
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = "netns " + netnsPath,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>Like <see cref="RunIn(string, Action)"/> for any namespace file, e.g. /proc/&lt;pid&gt;/ns/net.</summary>
    public static void RunInPath(string netnsPath, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        RunInPath(netnsPath, () => { action(); return true; });
    }

    private static string PathOf(string namespaceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(namespaceName);
        if (namespaceName.Contains('/') || namespaceName is "." or "..")
            throw new ArgumentException($"Network namespace name '{namespaceName}' must be a plain name as given to `ip netns add`.", nameof(namespaceName));
        return Path.Combine(NamedNamespaceDirectory, namespaceName);
    }

    private static void Enter(string netnsPath)
    {
        var fd = Native.Open(netnsPath, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (fd < 0) throw Native.Error("open", netnsPath);
        try
        {
            if (LibC.setns(fd, LibC.CLONE_NEWNET) < 0) throw Native.Error("setns(CLONE_NEWNET)", netnsPath);
        }
        finally
        {
            // The thread keeps the namespace once entered; the descriptor is no longer needed.
            _ = LibC.close(fd);
        }
    }
}
