using RdNet.Transport.Linux;

namespace RdNet.Transport.Tests.Linux;

public sealed class StaleDhcpClientsTests : IDisposable
{
    private readonly string _proc = Directory.CreateTempSubdirectory("rdnt-proc-").FullName;

    public void Dispose() => Directory.Delete(_proc, recursive: true);

    private void Process(string pid, string net, params string[] argv)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_proc, pid, "ns")).Parent!.FullName;
        if (argv.Length > 0) File.WriteAllText(Path.Combine(dir, "cmdline"), string.Join('\0', argv) + "\0");
        File.CreateSymbolicLink(Path.Combine(dir, "ns", "net"), net);
    }

    [Fact]
    public void Only_clients_of_the_same_interface_in_our_own_network_namespace_are_stale()
    {
        Process("self", "net:[4026530001]");
        Process("100", "net:[4026530001]", "udhcpc", "-f", "-i", "eth0", "-s", "/x/dhcp.sh");
        Process("101", "net:[4026539999]", "udhcpc", "-f", "-i", "eth0");           // another namespace's eth0
        Process("102", "net:[4026530001]", "/sbin/udhcpc", "-f", "-i", "eth1");     // another interface
        Process("103", "net:[4026530001]", "/usr/bin/udhcpc", "-ieth0");           // joined spelling
        Process("104", "net:[4026530001]", "dhclient", "-i", "eth0");              // another program
        Process("105", "net:[4026530001]");                                          // a kernel thread: empty cmdline
        Assert.Equal([100, 103], StaleDhcpClients.Find("udhcpc", "eth0", _proc).Order());
    }

    [Theory]
    [InlineData(new[] { "udhcpc", "--interface=eth0" }, true)]
    [InlineData(new[] { "udhcpc", "--interface", "eth0" }, true)]
    [InlineData(new[] { "udhcpc", "-i" }, false)]
    [InlineData(new[] { "udhcpc", "eth0" }, false)]
    [InlineData(new[] { "udhcpc", "-i", "eth00" }, false)]
    public void The_interface_argument_is_recognised_in_each_spelling(string[] argv, bool expected) =>
        Assert.Equal(expected, StaleDhcpClients.NamesInterface(argv, "eth0"));
}
