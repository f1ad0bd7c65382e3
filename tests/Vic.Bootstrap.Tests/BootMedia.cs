using System.Diagnostics;
using Vic.TestSupport;

namespace Vic.Bootstrap.Tests;

/// <summary>
/// The boot media the tests use, built once per test run by <c>iso/build.sh</c> itself (fast when
/// nothing changed): the placeholder-tether variant in iso/out/placeholder, and the static
/// vic-init/vic-exec it compiles into iso/out/native.
/// </summary>
public static class BootMedia
{
    private static readonly Lazy<Task<string>> Built = new(BuildAsync);

    public static string OutDirectory => Repository.Combine("iso", "out", "placeholder");

    public static string Kernel => Path.Combine(OutDirectory, "vmlinuz");

    public static string Initramfs => Path.Combine(OutDirectory, "initramfs.img");

    public static string Iso => Path.Combine(OutDirectory, "bootstrap.iso");

    public static string VicExec => Repository.Combine("iso", "out", "native", "vic-exec");

    /// <summary>Runs iso/build.sh (placeholder tether) once; returns what it printed.</summary>
    public static Task<string> EnsureBuiltAsync() => Built.Value;

    public static Task<CommandResult> RunBuildAsync(string outDirectory) =>
        Command.RunAsync(
            Repository.Combine("iso", "build.sh"),
            [],
            new Dictionary<string, string> { ["TETHER"] = "placeholder", ["OUT"] = outDirectory },
            TimeSpan.FromMinutes(5));

    private static async Task<string> BuildAsync()
    {
        var clock = Stopwatch.StartNew();
        var result = await RunBuildAsync(OutDirectory);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"iso/build.sh failed:\n{result}");
        }

        return $"iso/build.sh (placeholder tether) took {clock.ElapsedMilliseconds} ms:\n{result.StandardOutput}{result.StandardError}";
    }
}
