namespace RdNet.Transport.Linux;

/// <summary>
/// DHCP clients for an interface that were left running by an earlier vm-switch (one that was SIGKILLed cannot stop
/// its udhcpc). vm-switch is the only DHCP client owner of its tap in its namespace, so before starting its own it
/// finds those in the same network namespace, by /proc: same executable name, the same <c>-i IFACE</c>.
/// </summary>
public static class StaleDhcpClients
{
    public static IReadOnlyList<int> Find(string clientPath, string interfaceName, string procRoot = "/proc")
    {
        var found = new List<int>();
        if (!OperatingSystem.IsLinux()) return found;
        var name = Path.GetFileName(clientPath);
        var ourNet = NetNamespaceOf(procRoot, "self");
        if (ourNet is null) return found;
        foreach (var dir in Directory.EnumerateDirectories(procRoot))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // exited meanwhile, or not ours to read
            }
            if (argv.Length == 0 || Path.GetFileName(argv[0]) != name || !NamesInterface(argv, interfaceName)) continue;
            if (NetNamespaceOf(procRoot, Path.GetFileName(dir)) == ourNet) found.Add(pid);
        }
        return found;
    }

    /// <summary><c>-i IFACE</c>, <c>-iIFACE</c> or <c>--interface=IFACE</c> / <c>--interface IFACE</c>.</summary>
    internal static bool NamesInterface(string[] argv, string interfaceName)
    {
        for (var i = 1; i < argv.Length; i++)
        {
            var a = argv[i];
            if ((a is "-i" or "--interface") && i + 1 < argv.Length && argv[i + 1] == interfaceName) return true;
            if (a == "-i" + interfaceName || a == "--interface=" + interfaceName) return true;
        }
        return false;
    }

    private static string? NetNamespaceOf(string procRoot, string pid)
    {
        try
        {
            return new FileInfo(Path.Combine(procRoot, pid, "ns", "net")).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
