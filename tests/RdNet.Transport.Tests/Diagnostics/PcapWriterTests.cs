using System.Buffers.Binary;
using System.Diagnostics;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Tests.Wire;

namespace RdNet.Transport.Tests.Diagnostics;

public class PcapWriterTests
{
    private static readonly DateTimeOffset When = new DateTimeOffset(2024, 6, 11, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567 * 10);

    [Fact]
    public void Writes_the_classic_global_header_and_a_record_header_per_frame()
    {
        var stream = new MemoryStream();
        using (var pcap = new PcapWriter(stream, leaveOpen: true))
        {
            pcap.Write(CapturedFrames.ArpRequest, When);
        }
        var bytes = stream.ToArray();
        Assert.Equal(24 + 16 + 60, bytes.Length);
        Assert.Equal(Convert.FromHexString("d4c3b2a1" + "0200" + "0400" + "00000000" + "00000000" + "ffff0000" + "01000000"), bytes[..24]);
        var record = bytes.AsSpan(24, 16);
        Assert.Equal((uint)When.ToUnixTimeSeconds(), BinaryPrimitives.ReadUInt32LittleEndian(record));
        Assert.Equal(234567u, BinaryPrimitives.ReadUInt32LittleEndian(record[4..]));
        Assert.Equal(60u, BinaryPrimitives.ReadUInt32LittleEndian(record[8..]));
        Assert.Equal(60u, BinaryPrimitives.ReadUInt32LittleEndian(record[12..]));
        Assert.Equal(CapturedFrames.ArpRequest, bytes[40..]);
    }

    [Fact]
    public void Frames_longer_than_the_snap_length_are_truncated_but_keep_their_original_length()
    {
        var stream = new MemoryStream();
        using (var pcap = new PcapWriter(stream, leaveOpen: true))
        {
            pcap.Write(new byte[70000], When);
        }
        var bytes = stream.ToArray();
        Assert.Equal(24 + 16 + 65535, bytes.Length);
        Assert.Equal(65535u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(24 + 8)));
        Assert.Equal(70000u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(24 + 12)));
    }

    [Fact]
    public void Concurrent_writers_never_interleave_records()
    {
        var stream = new MemoryStream();
        using (var pcap = new PcapWriter(stream, leaveOpen: true))
        {
            Parallel.For(0, 2000, i => pcap.Write(i % 2 == 0 ? CapturedFrames.ArpRequest : CapturedFrames.TcpSyn, When));
        }
        var bytes = stream.ToArray();
        int offset = 24, records = 0;
        while (offset < bytes.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset + 8));
            var frame = bytes.AsSpan(offset + 16, length);
            Assert.True(frame.SequenceEqual(CapturedFrames.ArpRequest) || frame.SequenceEqual(CapturedFrames.TcpSyn));
            offset += 16 + length;
            records++;
        }
        Assert.Equal(2000, records);
    }

    [Fact]
    public void Writes_after_dispose_are_ignored_rather_than_thrown()
    {
        var stream = new MemoryStream();
        var pcap = new PcapWriter(stream, leaveOpen: true);
        pcap.Dispose();
        pcap.Write(CapturedFrames.ArpRequest, When);
        pcap.Flush();
        Assert.Equal(24, stream.Length);
    }

    [Fact]
    public void Tcpdump_reads_the_capture_and_decodes_every_frame()
    {
        const string tcpdump = "/usr/bin/tcpdump";
        if (!File.Exists(tcpdump)) return; // byte-level tests above still cover the format

        var path = Path.Combine(Path.GetTempPath(), $"rdnet-pcap-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var pcap = PcapWriter.Create(path))
            {
                pcap.Write(CapturedFrames.ArpRequest, When);
                pcap.Write(CapturedFrames.IcmpEchoRequest, When.AddMilliseconds(1));
                pcap.Write(CapturedFrames.UdpDnsQuery, When.AddMilliseconds(2));
                pcap.Write(CapturedFrames.TcpSyn, When.AddMilliseconds(3));
            }
            var psi = new ProcessStartInfo(tcpdump, ["-nn", "-tt", "-v", "-r", path])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(psi)!;
            string output = process.StandardOutput.ReadToEnd();
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, errors);

            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith($"{When.ToUnixTimeSeconds()}.234567", lines[0]);
            Assert.Contains("Request who-has 192.168.127.1 tell 192.168.127.2", output);
            Assert.Contains("192.168.127.2 > 192.168.127.1: ICMP echo request, id 3119, seq 1", output);
            Assert.Contains("192.168.127.2.53412 > 192.168.127.1.53: ", output);
            Assert.Contains("A? example.com.", output);
            Assert.Contains("192.168.127.2.45678 > 93.184.216.34.80: Flags [S], cksum 0xff35 (correct)", output);
            Assert.Contains("mss 1460,sackOK,TS val 703710 ecr 0,nop,wscale 7", output);
            Assert.DoesNotContain("incorrect", output);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
