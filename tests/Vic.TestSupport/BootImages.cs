namespace Vic.TestSupport;

/// <summary>The ContainerVM kernel and initramfs, built by iso/build.sh (fast when up to date).</summary>
public static class BootImages
{
    private static readonly Lazy<Task<(string Kernel, string Initramfs)>> Built = new(BuildAsync);

    public static Task<(string Kernel, string Initramfs)> EnsureBuiltAsync() => Built.Value;

    /// <summary>Templates shared by every test backend on this machine; keyed by what shapes them, so never stale.</summary>
    public static string TemplateDirectory => Path.Combine(Path.GetTempPath(), "vic-test-templates");

    private static async Task<(string Kernel, string Initramfs)> BuildAsync()
    {
        var result = await Command.RunAsync(Repository.Combine("iso", "build.sh"), [], timeout: TimeSpan.FromMinutes(10)).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"iso/build.sh failed: {result}");
        }

        return (Repository.Combine("iso", "out", "vmlinux"), Repository.Combine("iso", "out", "initramfs.cpio"));
    }
}
