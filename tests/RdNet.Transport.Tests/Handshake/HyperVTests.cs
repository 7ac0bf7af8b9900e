using RdNet.Transport.Handshake;
using RdNet.Transport.Links;

namespace RdNet.Transport.Tests.Handshake;

/// <summary>The Windows host's addressing (spec §2.1, §2.2): testable here, although the socket exists only on Windows.</summary>
public sealed class HyperVTests
{
    private static readonly Guid Loopback = new("e0e16197-dd56-4a10-9195-5ee7a155a838");

    [Theory]
    [InlineData(6669u, "00001a0d-facb-11e6-bd58-64006a7986d3")]
    [InlineData(6656u, "00001a00-facb-11e6-bd58-64006a7986d3")]
    [InlineData(1024u, "00000400-facb-11e6-bd58-64006a7986d3")]
    public void A_vsock_port_maps_to_the_template_service_guid(uint port, string guid)
    {
        Assert.Equal(new Guid(guid), HvSocketEndPoint.ServiceIdForVsockPort(port));
        Assert.Equal(port, HvSocketEndPoint.VsockPortOf(new Guid(guid)));
    }

    [Fact]
    public void A_guid_outside_the_template_is_no_vsock_port()
    {
        Assert.Null(HvSocketEndPoint.VsockPortOf(Loopback));
    }

    [Fact]
    public void SOCKADDR_HV_is_family_reserved_and_two_guids_in_windows_byte_order()
    {
        var ep = new HvSocketEndPoint(Loopback, HvSocketEndPoint.ServiceIdForVsockPort(6669));
        var b = new byte[HvSocketEndPoint.SockaddrLength];
        ep.Write(b);
        byte[] expected =
        [
            34, 0, 0, 0,
            0x97, 0x61, 0xe1, 0xe0, 0x56, 0xdd, 0x10, 0x4a, 0x91, 0x95, 0x5e, 0xe7, 0xa1, 0x55, 0xa8, 0x38,
            0x0d, 0x1a, 0x00, 0x00, 0xcb, 0xfa, 0xe6, 0x11, 0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3,
        ];
        Assert.Equal(expected, b);
        var back = HvSocketEndPoint.Read(b);
        Assert.Equal((Loopback, ep.ServiceId), (back.VmId, back.ServiceId));
        Assert.Equal($"hvsock://{Loopback}:6669", back.ToString());
        Assert.Throws<ArgumentException>(() => ep.Write(new byte[35]));
        Assert.Throws<ArgumentException>(() => HvSocketEndPoint.Read(new byte[36]));
    }

    [Fact]
    public void Hvsock_uris_parse_to_hyper_v_endpoints()
    {
        var e = LinkEndpoint.Parse($"hvsock://{Loopback}:6669");
        Assert.Equal((LinkScheme.HvSock, Loopback, 6669), (e.Scheme, e.VmId, e.Port));
        Assert.Equal($"hvsock://{Loopback}:6669", e.ToString());
        var ep = Assert.IsType<HvSocketEndPoint>(e.ToEndPoint());
        Assert.Equal(HvSocketEndPoint.ServiceIdForVsockPort(6669), ep.ServiceId);
        Assert.Equal("hvsock://any:6656", LinkEndpoint.Parse("hvsock://any:6656").ToString());
        Assert.False(LinkEndpoint.TryParse("hvsock://not-a-guid:1", out _, out var err));
        Assert.Contains("GUID or 'any'", err, StringComparison.Ordinal);
        Assert.False(LinkEndpoint.TryParse("hvsock://any:0", out _, out _));
    }

    [Fact]
    public void An_hvsock_endpoint_off_windows_fails_with_a_clear_reason()
    {
        if (OperatingSystem.IsWindows()) return; // this checks the refusal elsewhere
        var e = Assert.Throws<PlatformNotSupportedException>(() => LinkEndpoint.Parse("hvsock://any:6656").Listen());
        Assert.Contains("Windows only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compute_system_subkeys_that_are_guids_become_candidates_on_both_ports()
    {
        var (vms, skipped) = HyperVDiscovery.ParseComputeSystems([Loopback.ToString(), "not-a-vm", "{a42e7cda-d03f-480c-9cc2-a4de20abb878}"]);
        Assert.Equal([Loopback, new Guid("a42e7cda-d03f-480c-9cc2-a4de20abb878")], vms);
        Assert.Equal(["not-a-vm"], skipped);
        var c = HyperVDiscovery.Candidates(vms, 6669, 6656);
        Assert.Equal($"hvsock://{Loopback}:6669", c[0].Handshake.ToString());
        Assert.Equal($"hvsock://{Loopback}:6656", c[0].DataListen.ToString());
        Assert.Equal("no running WSL VM found", Assert.Throws<HandshakeException>(() => HyperVDiscovery.Candidates([], 6669, 6656)).Message);
    }
}
