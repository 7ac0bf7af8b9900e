using System.Diagnostics;

namespace RdNet.Transport.Tests.Linux;

/// <summary>
/// A fresh, empty network namespace named rdnt-&lt;random&gt; for one test class, deleted on
/// dispose. These tests need root (CAP_SYS_ADMIN for the namespace, CAP_NET_ADMIN inside it);
/// as any other user the fixture fails loudly rather than skipping, because CI runs as root.
/// </summary>
public sealed class NetworkNamespaceFixture : IDisposable
{
    public NetworkNamespaceFixture()
    {
        RequireRoot();
        Name = "rdnt-" + Guid.NewGuid().ToString("N")[..8];
        IpCommand.Run("netns", "add", Name);
    }

    public string Name { get; }

    public void Dispose() => IpCommand.Run("netns", "delete", Name);

    public static void RequireRoot()
    {
        if (Environment.UserName != "root")
            throw new InvalidOperationException(
                $"The Linux network tests must run as root (they create network namespaces and TAP devices); running as '{Environment.UserName}'.");
    }
}

/// <summary>Runs iproute2's `ip` and returns its standard output; a non-zero exit fails the test with stderr.</summary>
public static class IpCommand
{
    public static string Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ip");
        var stderrTask = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var stderr = stderrTask.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr}");
        return stdout;
    }
}
