using FsCheck.Xunit;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class InternetChecksumTests
{
    /// <summary>RFC 1071 done the slow, obvious way: big-endian 16-bit words, odd byte padded, end-around carry.</summary>
    private static ushort NaiveChecksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i += 2)
        {
            uint word = (uint)data[i] << 8;
            if (i + 1 < data.Length) word |= data[i + 1];
            sum += word;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    [Fact]
    public void Matches_the_naive_reference_for_every_length_up_to_2000_and_every_alignment()
    {
        var random = new Random(20240611);
        var buffer = new byte[2000 + 8];
        for (int length = 0; length <= 2000; length++)
        {
            random.NextBytes(buffer);
            int offset = length % 8; // walks every misalignment
            var data = buffer.AsSpan(offset, length);
            Assert.Equal(NaiveChecksum(data), InternetChecksum.Compute(data));
        }
    }

    [Fact]
    public void Matches_the_naive_reference_on_all_ones_buffers_where_carries_pile_up()
    {
        var data = new byte[65535];
        Array.Fill(data, (byte)0xFF);
        foreach (int length in new[] { 1, 2, 3, 7, 8, 9, 31, 32, 33, 1500, 65534, 65535 })
            Assert.Equal(NaiveChecksum(data.AsSpan(0, length)), InternetChecksum.Compute(data.AsSpan(0, length)));
    }

    [Property(MaxTest = 500)]
    public bool Matches_the_naive_reference_on_arbitrary_buffers_and_offsets(byte[] data, byte offset)
    {
        int start = data.Length == 0 ? 0 : offset % data.Length;
        var span = data.AsSpan(start);
        return InternetChecksum.Compute(span) == NaiveChecksum(span);
    }

    [Property(MaxTest = 300)]
    public bool Summing_in_even_length_chunks_equals_summing_at_once(byte[] data, ushort split)
    {
        int cut = data.Length == 0 ? 0 : (split % (data.Length + 1)) & ~1;
        uint chunked = InternetChecksum.Add(InternetChecksum.Add(0, data.AsSpan(0, cut)), data.AsSpan(cut));
        return InternetChecksum.Fold(chunked) == InternetChecksum.Compute(data);
    }

    [Fact]
    public void Checksum_of_the_rfc_1071_example_words_is_the_complement_of_their_sum()
    {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (after carries).
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(unchecked((ushort)~0xddf2), InternetChecksum.Compute(data));
    }

    [Fact]
    public void A_region_containing_its_own_checksum_sums_to_zero()
    {
        var header = CapturedFrames.IpPacketOf(CapturedFrames.IcmpEchoRequest)[..20];
        Assert.Equal(0, InternetChecksum.Compute(header));
    }

    [Fact]
    public void Pseudo_header_sums_addresses_protocol_and_length_as_16_bit_words()
    {
        var src = new Ipv4Address(192, 168, 127, 2);
        var dst = new Ipv4Address(192, 168, 127, 1);
        uint expected = 0xc0a8 + 0x7f02 + 0xc0a8 + 0x7f01 + 17 + 37;
        Assert.Equal(InternetChecksum.Fold(expected), InternetChecksum.Fold(InternetChecksum.PseudoHeader(src, dst, IpProtocol.Udp, 37)));
    }

    [Fact]
    public void Fold_adds_carries_back_in_before_complementing()
    {
        Assert.Equal(unchecked((ushort)~0x0002), InternetChecksum.Fold(0x0000_FFFF + 0x0000_0002));
        Assert.Equal((ushort)0, InternetChecksum.Fold(0xFFFF));
    }
}
