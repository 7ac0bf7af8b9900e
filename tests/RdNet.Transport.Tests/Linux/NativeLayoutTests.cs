using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RdNet.Transport.Linux;

namespace RdNet.Transport.Tests.Linux;

/// <summary>Guards the hand-written kernel structs against layout drift (LP64 sizes from linux/if.h and linux/route.h).</summary>
public sealed class NativeLayoutTests
{
    [Fact]
    public void Ifreq_is_40_bytes_with_its_union_at_offset_16()
    {
        Assert.Equal(40, Unsafe.SizeOf<IfReq>());
        Assert.Equal(16, (int)Marshal.OffsetOf<IfReq>(nameof(IfReq.Flags)));
        Assert.Equal(16, (int)Marshal.OffsetOf<IfReq>(nameof(IfReq.Address)));
    }

    [Fact]
    public void Rtentry_is_120_bytes_with_rt_flags_at_56_and_rt_dev_at_88()
    {
        Assert.Equal(120, Unsafe.SizeOf<RtEntry>());
        Assert.Equal(56, (int)Marshal.OffsetOf<RtEntry>(nameof(RtEntry.Flags)));
        Assert.Equal(80, (int)Marshal.OffsetOf<RtEntry>(nameof(RtEntry.Metric)));
        Assert.Equal(88, (int)Marshal.OffsetOf<RtEntry>(nameof(RtEntry.Device)));
    }

    [Fact]
    public void The_exception_message_names_the_operation_the_interface_and_the_strerror_text()
    {
        var e = new LinuxNetworkException("SIOCSIFHWADDR", "eth0", 1);

        Assert.Equal("SIOCSIFHWADDR on eth0: Operation not permitted (errno 1)", e.Message);
        Assert.Equal(1, e.Errno);
    }
}
