namespace Vic.TestSupport;

/// <summary>Paths inside the checkout the tests run from.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot(AppContext.BaseDirectory) ?? FindRoot(SourceDirectory()) ??
        throw new InvalidOperationException($"no VIC.sln above {AppContext.BaseDirectory}");

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string? FindRoot(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "VIC.sln")))
            {
                return directory.FullName;
            }
        }

        return null;
    }

    // Builds with --artifacts-path put the binaries outside the checkout; the source path still points into it.
    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
