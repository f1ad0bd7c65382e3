using System.Reflection;
using System.Runtime.InteropServices;

namespace Vic.Api.Versioning;

/// <summary>What this endpoint build says about itself in <c>/version</c> and the <c>Server</c> header.</summary>
public sealed record EngineIdentity(string Version, string GitCommit, string BuildTime, string Runtime)
{
    public static EngineIdentity FromAssembly(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        var version = plus < 0 ? informational : informational[..plus];
        var commit = plus < 0 ? "unknown" : informational[(plus + 1)..];
        var buildTime = File.GetLastWriteTimeUtc(assembly.Location).ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", System.Globalization.CultureInfo.InvariantCulture);
        return new EngineIdentity(version, commit.Length > 12 ? commit[..12] : commit, buildTime, RuntimeInformation.FrameworkDescription);
    }
}
