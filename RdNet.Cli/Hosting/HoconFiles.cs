using Akka.Configuration;

namespace RdNet.Cli.Hosting;

/// <summary>
/// Loads hocon/*.hocon from beside the executable (never from the working directory). The environment variable
/// <c>RDNET_HOCON</c> may name one more file whose settings take precedence (e.g. a short UDP idle timeout in tests,
/// or a site-specific limit without editing the shipped files).
/// </summary>
public static class HoconFiles
{
    public const string OverrideVariable = "RDNET_HOCON";

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "hocon");

    public static Config Load()
    {
        var dir = Directory;
        // A published single-file binary installed alone (in place of Rancher Desktop's own) carries the shipped
        // files inside; a hocon/ folder beside it, when there is one, is used instead.
        if (!System.IO.Directory.Exists(dir) && Embedded() is { Count: > 0 } shipped)
            return WithOverride(shipped.Aggregate(Config.Empty, (c, text) => c.WithFallback(ConfigurationFactory.ParseString(text))));
        if (!System.IO.Directory.Exists(dir))
            throw new FatalSetupException($"the configuration directory {dir} is missing; it ships beside the rdnet executable");
        var files = System.IO.Directory.GetFiles(dir, "*.hocon").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FatalSetupException($"no *.hocon files in {dir}");
        Config config = Config.Empty;
        var extra = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrEmpty(extra))
        {
            if (!File.Exists(extra))
                throw new FatalSetupException($"{OverrideVariable}={extra}: no such file; expected the path of a HOCON file such as rdnet {{ udp {{ idle-timeout = 5s }} }}");
            files.Insert(0, extra);
        }
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

    /// <summary>The hocon/*.hocon files compiled into the executable, in name order.</summary>
    private static List<string> Embedded()
    {
        var assembly = typeof(HoconFiles).Assembly;
        return assembly.GetManifestResourceNames().Where(n => n.StartsWith("hocon/", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(n =>
            {
                using var s = assembly.GetManifestResourceStream(n)!;
                using var r = new StreamReader(s);
                return r.ReadToEnd();
            }).ToList();
    }

    private static Config WithOverride(Config shipped)
    {
        var extra = Environment.GetEnvironmentVariable(OverrideVariable);
        if (string.IsNullOrEmpty(extra)) return shipped;
        if (!File.Exists(extra))
            throw new FatalSetupException($"{OverrideVariable}={extra}: no such file; expected the path of a HOCON file such as rdnet {{ udp {{ idle-timeout = 5s }} }}");
        try
        {
            return ConfigurationFactory.ParseString(File.ReadAllText(extra)).WithFallback(shipped);
        }
        catch (Exception e) when (e is not FatalSetupException)
        {
            throw new FatalSetupException($"cannot read {extra}: {e.Message}");
        }
    }
}

/// <summary>A setup error that ends the process with one clear line and a non-zero exit code.</summary>
public sealed class FatalSetupException(string message) : Exception(message);
