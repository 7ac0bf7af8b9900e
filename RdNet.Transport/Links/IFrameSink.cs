using RdNet.Transport.Buffers;

namespace RdNet.Transport.Links;

/// <summary>Where a link's reader loop hands each received frame. Ownership of the buffer passes with the call.</summary>
public interface IFrameSink
{
    void Deliver(FrameBuffer frame);
}
