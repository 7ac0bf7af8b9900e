using System.Diagnostics;
using RdNet.Transport.Linux;

namespace RdNet.Transport.Tests.Linux;

/// <summary>The udhcpc script, run by sh with a stand-in ip(8) on the PATH that only records its arguments.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UdhcpcScriptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdnet-udhcpc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string IpCalls) RunScript(string script, string @event)
    {
        var ipLog = Path.Combine(_dir, "ip.log");
        File.WriteAllText(Path.Combine(_dir, "ip"), $"#!/bin/sh\necho \"$*\" >> '{ipLog}'\n");
        File.SetUnixFileMode(Path.Combine(_dir, "ip"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Path.Combine(_dir, "dhcp.sh");
        File.WriteAllText(path, script);
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false };
        psi.ArgumentList.Add(path);
        psi.ArgumentList.Add(@event);
        psi.Environment["PATH"] = _dir + ":/usr/bin:/bin";
        psi.Environment["interface"] = "eth9";
        psi.Environment["ip"] = "192.168.127.2";
        psi.Environment["mask"] = "24";
        psi.Environment["router"] = "192.168.127.1";
        psi.Environment["mtu"] = "1400";
        using var p = Process.Start(psi)!;
        Assert.True(p.WaitForExit(10_000));
        return (p.ExitCode, File.Exists(ipLog) ? File.ReadAllText(ipLog) : "");
    }

    [Fact]
    public void Bound_configures_the_interface_with_ip_and_runs_the_extra_line_after_it()
    {
        var mark = Path.Combine(_dir, "recorded");
        var (code, calls) = RunScript(UdhcpcScript.Build($"echo \"ip=$ip\" >> '{mark}'"), "bound");
        Assert.Equal(0, code);
        Assert.Equal(
            "-4 addr flush dev eth9\naddr add 192.168.127.2/24 dev eth9\nlink set dev eth9 mtu 1400\nroute replace default via 192.168.127.1 dev eth9\n",
            calls);
        Assert.Equal("ip=192.168.127.2\n", File.ReadAllText(mark));
    }

    [Fact]
    public void Deconfig_flushes_and_brings_the_interface_up_without_the_extra_line()
    {
        var mark = Path.Combine(_dir, "recorded");
        var (code, calls) = RunScript(UdhcpcScript.Build($"echo x >> '{mark}'"), "deconfig");
        Assert.Equal(0, code);
        Assert.Equal("-4 addr flush dev eth9\nlink set dev eth9 up\n", calls);
        Assert.False(File.Exists(mark));
    }

    [Fact]
    public void Without_an_extra_line_bound_does_the_same_configuration()
    {
        var (code, calls) = RunScript(UdhcpcScript.Build(), "bound");
        Assert.Equal(0, code);
        Assert.Contains("addr add 192.168.127.2/24 dev eth9", calls, StringComparison.Ordinal);
        Assert.DoesNotContain("resolv.conf", UdhcpcScript.Build(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_extra_of_more_than_one_line_is_refused() =>
        Assert.Throws<ArgumentException>(() => UdhcpcScript.Build("a\nb"));
}
