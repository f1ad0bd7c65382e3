using System.Globalization;
using System.Web;

namespace Vic.PortLayer.Volumes;

/// <summary>Where an NFS volume store is: the server, its NFSv4 port, the folder on the export, and the owner of new folders.</summary>
public sealed record NfsLocation(string Host, int Port, string Path, uint Uid, uint Gid)
{
    /// <summary>The folder of one volume on the export: VIC's layout, <c>&lt;path&gt;/volumes/&lt;name&gt;</c>.</summary>
    public string VolumePath(string name) => $"{Path.TrimEnd('/')}/volumes/{name}";

    public string Url(string name) => $"nfs://{Host}{(Port == 2049 ? "" : $":{Port}")}{VolumePath(name)}";
}

/// <summary>
/// A volume store, named by its label (<c>docker volume create --opt VolumeStore=label</c>): the
/// local folder of VMDK volumes, or a folder on an NFS export that ContainerVMs mount themselves.
/// The store labelled <c>default</c> holds anonymous volumes and those that name no store.
/// </summary>
public sealed record VolumeStoreConfig(string Label, NfsLocation? Nfs)
{
    public const string DefaultLabel = "default";

    public static VolumeStoreConfig Local { get; } = new(DefaultLabel, null);

    /// <summary>
    /// VIC's <c>--volume-store</c> form for NFS: <c>nfs://host[:port]/path[?uid=N&amp;gid=M]:label</c>;
    /// the label is what follows the last colon.
    /// </summary>
    public static VolumeStoreConfig Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        var label = colon > "nfs://".Length ? text[(colon + 1)..] : "";
        if (label.Length == 0 || label.Contains('/', StringComparison.Ordinal) || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"--volume-store: '{text}' has no label: use nfs://host/path:label");
        }

        if (!Uri.TryCreate(text[..colon], UriKind.Absolute, out var uri) || uri.Scheme != "nfs" || uri.Host.Length == 0)
        {
            throw new ArgumentException($"--volume-store: '{text}': only nfs://host[:port]/path volume stores can be added (the local store is always there)");
        }

        var path = Uri.UnescapeDataString(uri.AbsolutePath);
        if (path.Trim('/').Length == 0)
        {
            throw new ArgumentException($"--volume-store: '{text}': name a folder on the export, not its root");
        }

        var query = HttpUtility.ParseQueryString(uri.Query);
        var uid = Id(query["uid"], 0, text);
        return new VolumeStoreConfig(label, new NfsLocation(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 2049 : uri.Port, path, uid, Id(query["gid"], uid, text)));
    }

    private static uint Id(string? text, uint fallback, string store) =>
        text is null ? fallback
        : uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id
        : throw new ArgumentException($"--volume-store: '{store}': uid and gid are numbers");
}
