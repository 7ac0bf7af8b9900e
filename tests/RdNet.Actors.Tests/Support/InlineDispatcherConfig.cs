using Akka.Configuration;

namespace RdNet.Actors.Tests.Support;

/// <summary>The connection actors' inline dispatcher as hocon/rdnet.hocon defines it, for TestKit systems that run flows on it.</summary>
public static class InlineDispatcherConfig
{
    public const string Id = "rdnet-inline-dispatcher";

    public static Config Hocon { get; } = ConfigurationFactory.ParseString("""
        rdnet-inline-dispatcher {
          type = Dispatcher
          executor = "RdNet.Actors.Infrastructure.InlineExecutorConfigurator, RdNet.Actors"
          throughput = 64
        }
        """);
}
