namespace Vic.TestSupport;

/// <summary>Paths inside the checkout the tests run from.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "VIC.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no VIC.sln above {AppContext.BaseDirectory}");
    }
}
