using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Switching;

internal static class TestFrames
{
    public static MacAddress Mac(ulong v) => new(v);

    /// <summary>A minimal Ethernet frame: header plus <paramref name="payload"/> bytes of zeros.</summary>
    public static byte[] Ethernet(MacAddress dst, MacAddress src, ushort type = EtherType.Ipv4, int payload = 46)
    {
        var f = new byte[EthernetFrame.HeaderLength + payload];
        EthernetFrame.WriteHeader(f, dst, src, type);
        return f;
    }
}
