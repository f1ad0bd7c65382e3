using System.Collections.Frozen;

namespace Vic.Admin.Site;

/// <summary>The page's files, compiled into the assembly (wwwroot/): read once, served from memory.</summary>
internal static class EmbeddedAssets
{
    private static readonly FrozenDictionary<string, byte[]> Files = Load();

    public static byte[]? Find(string name) => Files.GetValueOrDefault(name);

    public static string Text(string name) => System.Text.Encoding.UTF8.GetString(Find(name) ?? throw new InvalidOperationException($"vicadmin asset {name} is not embedded"));

    public static string ContentTypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    private static FrozenDictionary<string, byte[]> Load()
    {
        var assembly = typeof(EmbeddedAssets).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("vicadmin/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[resource["vicadmin/".Length..]] = copy.ToArray();
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
