namespace RdNet.Cli;

/// <summary>
/// Rancher Desktop starts the original binaries with Go's flag syntax: <c>-debug=true</c>, <c>-logfile=/path</c>,
/// <c>-tap-interface eth0</c>, <c>--port-forward a=b</c>. This rewrites those into the GNU form System.CommandLine
/// parses: a single-dash long flag becomes <c>--flag</c>, and <c>--flag=value</c> is split in two.
/// </summary>
public static class GoStyleArgs
{
    public static readonly string[] Roles = ["host-switch", "vm-switch", "network-setup", "wsl-proxy"];

    public static string[] Normalize(IReadOnlyList<string> args)
    {
        var result = new List<string>(args.Count + 4);
        var passThrough = false;
        foreach (var arg in args)
        {
            if (passThrough || arg == "--")
            {
                passThrough = true;
                result.Add(arg);
                continue;
            }
            var a = arg;
            if (a.Length > 2 && a[0] == '-' && a[1] != '-' && char.IsLetter(a[1])) a = "-" + a;
            if (a.StartsWith("--", StringComparison.Ordinal) && a.IndexOf('=') is var eq and > 2)
            {
                result.Add(a[..eq]);
                result.Add(a[(eq + 1)..]);
            }
            else
            {
                result.Add(a);
            }
        }
        return [.. result];
    }

    /// <summary>
    /// When the executable is started through a link or copy named after a role (<c>vm-switch</c>), that role is the
    /// command. argv[0] is read from /proc/self/cmdline because .NET reports the resolved executable instead.
    /// </summary>
    public static string? RoleFromArgv0(string? argv0)
    {
        if (string.IsNullOrEmpty(argv0)) return null;
        var name = Path.GetFileName(argv0);
        if (name.EndsWith(".exe", StringComparison.OrdinalIgnoreCase)) name = name[..^4];
        return Roles.FirstOrDefault(r => r == name);
    }

    public static string? ReadArgv0()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var cmdline = File.ReadAllBytes("/proc/self/cmdline");
                var end = Array.IndexOf(cmdline, (byte)0);
                return System.Text.Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end);
            }
            return Environment.GetCommandLineArgs().FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
