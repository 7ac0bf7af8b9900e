using Akka.Configuration;

namespace RdNet.Cli.Hosting;

/// <summary>Loads hocon/*.hocon from beside the executable (never from the working directory).</summary>
public static class HoconFiles
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "hocon");

    public static Config Load()
    {
        var dir = Directory;
        if (!System.IO.Directory.Exists(dir))
            throw new FatalSetupException($"the configuration directory {dir} is missing; it ships beside the rdnet executable");
        var files = System.IO.Directory.GetFiles(dir, "*.hocon").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FatalSetupException($"no *.hocon files in {dir}");
        Config config = Config.Empty;
        foreach (var f in files)
        {
            try
            {
                config = config.WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(f)));
            }
            catch (Exception e) when (e is not FatalSetupException)
            {
                throw new FatalSetupException($"cannot read {f}: {e.Message}");
            }
        }
        return config;
    }
}

/// <summary>A setup error that ends the process with one clear line and a non-zero exit code.</summary>
public sealed class FatalSetupException(string message) : Exception(message);
