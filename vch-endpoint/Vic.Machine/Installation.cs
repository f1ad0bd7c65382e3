using System.Reflection;

namespace Vic.Machine;

/// <summary>
/// Where this vic-machine is installed and what it ships with: the ISOs it uploads are found from
/// its own location, never from the directory it is run in.
/// </summary>
public static class Installation
{
    private const string BootstrapIso = "bootstrap.iso";
    private const string ApplianceIso = "appliance.iso";

    /// <summary>The version, as VIC printed it: <c>v1.5.0-&lt;commit&gt;</c> style, from the build's informational version.</summary>
    public static string Version
    {
        get
        {
            var informational = typeof(Installation).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            var plus = informational.IndexOf('+', StringComparison.Ordinal);
            var (number, commit) = plus < 0 ? (informational, "unknown") : (informational[..plus], informational[(plus + 1)..]);
            return $"v{number}-{(commit.Length > 7 ? commit[..7] : commit)}";
        }
    }

    /// <summary>
    /// The bootstrap ISO shipped with this vic-machine: beside it, in <c>iso/</c> beside it (the
    /// installer links iso/out there), or in <c>iso/out</c> of the source tree it was built in.
    /// </summary>
    public static string DefaultBootstrapIso() => Shipped(BootstrapIso, "give --bootstrap-iso, or run iso/build.sh");

    /// <summary>The appliance's ISO shipped with this vic-machine, found as the bootstrap ISO is.</summary>
    public static string DefaultApplianceIso() => Shipped(ApplianceIso, "give --appliance-iso, or run iso/build-appliance.sh");

    private static string Shipped(string file, string otherwise)
    {
        var looked = new List<string>();
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(directory.FullName, file), Path.Combine(directory.FullName, "iso", file), Path.Combine(directory.FullName, "iso", "out", file) })
            {
                if (File.Exists(candidate))
                {
                    return candidate;
                }

                looked.Add(candidate);
            }
        }

        throw new MachineException($"no {file} shipped with vic-machine (looked for {file}, iso/{file} and iso/out/{file} in {AppContext.BaseDirectory} and every directory above it): {otherwise}");
    }
}
