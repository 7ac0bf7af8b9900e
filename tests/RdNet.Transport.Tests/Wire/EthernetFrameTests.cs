using FsCheck.Xunit;
using RdNet.Transport.Diagnostics;
using RdNet.Transport.Wire;

namespace RdNet.Transport.Tests.Wire;

public class EthernetFrameTests
{
    [Fact]
    public void Decodes_addresses_type_and_payload_of_a_captured_arp_broadcast()
    {
        var frame = CapturedFrames.ArpRequest;
        Assert.True(EthernetFrame.TryCreate(frame, out var view, out var reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(MacAddress.Broadcast, view.Destination);
        Assert.Equal(CapturedFrames.GuestMac, view.Source);
        Assert.Equal(EtherType.Arp, view.EtherType);
        Assert.False(view.IsVlanTagged);
        Assert.Equal(frame.Length - EthernetFrame.HeaderLength, view.Payload.Length);
        Assert.True(view.Payload.SequenceEqual(frame.AsSpan(14)));
    }

    [Fact]
    public void Writing_the_header_reproduces_the_captured_bytes()
    {
        var frame = CapturedFrames.TcpSyn;
        var written = new byte[EthernetFrame.HeaderLength];
        EthernetFrame.WriteHeader(written, CapturedFrames.GatewayMac, CapturedFrames.GuestMac, EtherType.Ipv4);
        Assert.Equal(frame[..14], written);
    }

    [Property]
    public bool Header_round_trips_through_write_and_read(ulong destination, ulong source, ushort etherType)
    {
        var dst = new MacAddress(destination & 0xFFFF_FFFF_FFFF);
        var src = new MacAddress(source & 0xFFFF_FFFF_FFFF);
        var frame = new byte[EthernetFrame.VlanHeaderLength];
        EthernetFrame.WriteHeader(frame, dst, src, etherType);
        return EthernetFrame.TryCreate(frame, out var view, out _)
               && view.Destination == dst && view.Source == src && view.EtherType == etherType;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(13)]
    public void Frames_shorter_than_the_header_are_dropped_as_runts(int length)
    {
        Assert.False(EthernetFrame.TryCreate(CapturedFrames.ArpRequest.AsSpan(0, length), out _, out var reason));
        Assert.Equal(DropReason.EthernetRunt, reason);
    }

    [Theory]
    [InlineData(14)]
    [InlineData(17)]
    public void A_vlan_type_without_room_for_the_tag_is_dropped_as_a_vlan_runt(int length)
    {
        var frame = new byte[length];
        EthernetFrame.WriteHeader(frame, MacAddress.Broadcast, CapturedFrames.GuestMac, EtherType.Vlan);
        Assert.False(EthernetFrame.TryCreate(frame, out _, out var reason));
        Assert.Equal(DropReason.EthernetVlanRunt, reason);
    }

    [Fact]
    public void A_vlan_tagged_frame_exposes_its_tag_and_inner_type()
    {
        var frame = new byte[EthernetFrame.VlanHeaderLength];
        EthernetFrame.WriteHeader(frame, MacAddress.Broadcast, CapturedFrames.GuestMac, EtherType.Vlan);
        frame[14] = 0x20; frame[15] = 0x64; // PCP 1, VID 100
        frame[16] = 0x08; frame[17] = 0x06;
        Assert.True(EthernetFrame.TryCreate(frame, out var view, out _));
        Assert.Equal(EtherType.Vlan, view.EtherType);
        Assert.Equal(0x2064, view.VlanTagControl);
        Assert.Equal(EtherType.Arp, view.InnerEtherType);
    }
}
