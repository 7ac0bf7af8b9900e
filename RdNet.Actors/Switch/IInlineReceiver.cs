using RdNet.Transport.Buffers;

namespace RdNet.Actors.Switch;

/// <summary>
/// An in-process port's way to take a frame on the thread the switch decided on, instead of as a message to the
/// port's actor: the gateway hands TCP segments of known connections straight to their flow actor this way (one
/// actor hop instead of three). Called concurrently from any link's reader; must be thread-safe and must not block.
/// </summary>
public interface IInlineReceiver
{
    /// <summary>True: the frame (and the reference the caller held) was taken. False: nothing happened; the caller sends the frame to the port's actor.</summary>
    bool TryTake(FrameBuffer frame);
}
