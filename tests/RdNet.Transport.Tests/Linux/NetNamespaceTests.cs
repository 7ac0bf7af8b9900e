using System.Diagnostics;
using RdNet.Transport.Linux;

namespace RdNet.Transport.Tests.Linux;

public sealed class NetNamespaceTests(NetworkNamespaceFixture ns) : IClassFixture<NetworkNamespaceFixture>
{
    [Fact]
    public void A_tap_created_inside_the_namespace_is_invisible_from_the_calling_thread()
    {
        using var tap = NetNamespace.RunIn(ns.Name, () => TapDevice.Create("nsvis0"));

        Assert.True(NetNamespace.RunIn(ns.Name, () => NetInterface.Exists("nsvis0")));
        Assert.False(NetInterface.Exists("nsvis0"));
    }

    [Fact]
    public void The_action_runs_on_a_dedicated_thread_that_is_not_a_pool_thread()
    {
        var (threadId, isPool) = NetNamespace.RunIn(ns.Name, () => (Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread));

        Assert.NotEqual(Environment.CurrentManagedThreadId, threadId);
        Assert.False(isPool);
    }

    [Fact]
    public void An_exception_thrown_by_the_action_reaches_the_caller_unchanged()
    {
        var e = Assert.Throws<InvalidOperationException>(() => NetNamespace.RunIn(ns.Name, () => throw new InvalidOperationException("from inside")));

        Assert.Equal("from inside", e.Message);
    }

    [Fact]
    public void The_action_overload_runs_inside_the_namespace()
    {
        var sawLo = false;

        NetNamespace.RunIn(ns.Name, () => { sawLo = NetInterface.Exists("lo"); });

        Assert.True(sawLo);
    }

    [Fact]
    public void A_missing_namespace_fails_with_ENOENT_naming_its_path()
    {
        var e = Assert.Throws<LinuxNetworkException>(() => NetNamespace.RunIn("rdnt-does-not-exist", () => 0));

        Assert.Equal(2, e.Errno);
        Assert.Contains("/var/run/netns/rdnt-does-not-exist", e.Message);
    }

    [Fact]
    public void A_namespace_name_with_a_slash_is_rejected_before_any_syscall()
    {
        Assert.Throws<ArgumentException>(() => NetNamespace.RunIn("../etc", () => 0));
    }

    [Fact]
    public void RunInPath_enters_the_namespace_of_a_process_through_its_proc_ns_net_file()
    {
        using var tap = NetNamespace.RunIn(ns.Name, () => TapDevice.Create("nspid0"));
        var start = new ProcessStartInfo("ip") { UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", ns.Name, "sleep", "30" }) start.ArgumentList.Add(a);
        using var sleeper = Process.Start(start)!;
        try
        {
            // `ip netns exec` enters the namespace and then execs sleep in the same process.
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (ReadComm(sleeper.Id) != "sleep" && DateTime.UtcNow < deadline) Thread.Sleep(10);

            var seen = NetNamespace.RunInPath($"/proc/{sleeper.Id}/ns/net", () => NetInterface.Exists("nspid0"));

            Assert.True(seen);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }

    private static string ReadComm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return ""; }
    }
}
