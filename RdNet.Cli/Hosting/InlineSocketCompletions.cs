using System.Net.Sockets;

namespace RdNet.Cli.Hosting;

/// <summary>
/// Socket completions run on the runtime's epoll threads instead of being handed to a thread-pool worker. On the data
/// path every frame and every host-socket event crossed that hand-off (one thread wake-up each, in each switch); run
/// in line, a link's reader switches the frame and a host socket's data reaches its flow on the thread epoll woke.
/// Measured with tcpdump on both sides over 2,000 1-byte round trips: each direction through the two switches ~15–30 µs
/// shorter (README, fifth pass; the benchmark's rr median does not resolve it from its run-to-run spread).
/// <para>
/// .NET reads this only from <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>, once, when its socket engine starts.
/// So the variable is set before any socket is used, the engine is started with it, and it is removed again: the
/// programs rdnet starts (udhcpc, init, a command under <c>rdnet run</c>) do not inherit a tuning knob meant for rdnet.
/// A value the user set is left alone (<c>=0</c> turns this off). Everything that runs on a socket completion in rdnet
/// hands work on without blocking (a frame into a bounded queue, a message to an actor).
/// </para>
/// </summary>
public static class InlineSocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Whether a socket completion was seen to run off the thread pool (measured by <see cref="Apply"/>).</summary>
    public static bool Active { get; private set; }

    public static void Apply()
    {
        if (!OperatingSystem.IsLinux()) return;
        bool ours = Environment.GetEnvironmentVariable(Variable) is null;
        if (ours) Environment.SetEnvironmentVariable(Variable, "1");
        try
        {
            // A receive that has to wait registers its socket with the engine, which reads the variable; where its
            // completion runs tells whether the setting took.
            var (a, b) = RdNet.Transport.Linux.SocketPair.CreateStream();
            using (a)
            using (b)
            {
                var onPool = a.ReceiveAsync(new byte[1].AsMemory(), SocketFlags.None).AsTask()
                    .ContinueWith(_ => Thread.CurrentThread.IsThreadPoolThread, TaskContinuationOptions.ExecuteSynchronously);
                b.Send([1]);
                Active = onPool.Wait(TimeSpan.FromSeconds(5)) && !onPool.Result;
            }
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // No unix sockets here: the engine starts later with the variable still set, which is fine.
            return;
        }
        if (ours) Environment.SetEnvironmentVariable(Variable, null);
    }
}
