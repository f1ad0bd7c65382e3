using System.Formats.Tar;
using System.Text;

namespace Vic.ImageStore.Layers;

/// <summary>
/// Applies one layer tar, entry by entry as it streams, to an <see cref="ILayerFilesystem"/>: OCI
/// whiteouts become overlayfs whiteouts and opaque directories, PAX xattrs are kept, and entries that
/// would escape the root (<c>..</c>, absolute names, hard links to nowhere, paths through a symlink)
/// or that are absurdly large are refused before anything of them is written.
/// </summary>
public sealed class LayerTarApplier
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private const string XattrPrefix = "SCHILY.xattr.";

    private readonly ILayerFilesystem _target;
    private readonly long _maxEntryBytes;
    private readonly HashSet<string> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _symlinks = new(StringComparer.Ordinal);

    public LayerTarApplier(ILayerFilesystem target, long maxEntryBytes)
    {
        _target = target;
        _maxEntryBytes = maxEntryBytes;
    }

    /// <summary>How many entries were applied.</summary>
    public int Entries { get; private set; }

    public async Task ApplyAsync(Stream tar, CancellationToken cancellationToken)
    {
        using var reader = new TarReader(tar, leaveOpen: true);
        while (true)
        {
            TarEntry? entry;
            try
            {
                entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or ArgumentException)
            {
                throw new LayerRefusedException($"invalid tar header after entry {Entries}: {ex.Message}");
            }

            if (entry is null)
            {
                return;
            }

            Apply(entry);
            Entries++;
        }
    }

    private void Apply(TarEntry entry)
    {
        var path = Normalise(entry.Name, entry.Name);
        if (path == "/" && entry.EntryType != TarEntryType.Directory)
        {
            throw new LayerRefusedException($"tar entry \"{entry.Name}\" would replace the root directory");
        }

        var name = path[(path.LastIndexOf('/') + 1)..];
        var parent = ParentOf(path);
        RefuseThroughSymlink(entry.Name, parent);

        if (name == OpaqueMarker)
        {
            _target.MarkOpaque(parent);
            return;
        }

        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            // ".wh..wh.*" other than the opaque marker are aufs bookkeeping (hard link dirs): nothing to apply.
            if (!name.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal))
            {
                _target.AddWhiteout(Combine(parent, name[WhiteoutPrefix.Length..]));
            }

            return;
        }

        if (entry.Length > _maxEntryBytes)
        {
            throw new LayerRefusedException($"tar entry \"{entry.Name}\" claims {entry.Length} bytes, more than a layer disk of {_maxEntryBytes} bytes holds");
        }

        var metadata = MetadataOf(entry);
        switch (entry.EntryType)
        {
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                _target.AddFile(path, metadata, entry.DataStream ?? Stream.Null, entry.Length);
                _files.Add(path);
                _symlinks.Remove(path);
                break;
            case TarEntryType.Directory:
                _target.AddDirectory(path, metadata);
                _symlinks.Remove(path);
                break;
            case TarEntryType.SymbolicLink:
                _target.AddSymlink(path, entry.LinkName, metadata);
                _symlinks.Add(path);
                break;
            case TarEntryType.HardLink:
                var existing = Normalise(entry.LinkName, entry.Name);
                if (!_files.Contains(existing))
                {
                    throw new LayerRefusedException($"tar entry \"{entry.Name}\" is a hard link to \"{entry.LinkName}\", which is not a file of this layer");
                }

                _target.AddHardLink(path, existing);
                _files.Add(path);
                break;
            case TarEntryType.CharacterDevice:
                _target.AddCharacterDevice(path, Device(entry).Major, Device(entry).Minor, metadata);
                break;
            case TarEntryType.BlockDevice:
                _target.AddBlockDevice(path, Device(entry).Major, Device(entry).Minor, metadata);
                break;
            case TarEntryType.Fifo:
                _target.AddFifo(path, metadata);
                break;
            default:
                throw new LayerRefusedException($"tar entry \"{entry.Name}\" has type {entry.EntryType}, which a layer cannot hold");
        }
    }

    /// <summary>Makes "./a//b/" into "/a/b"; refuses absolute names and any "..".</summary>
    private static string Normalise(string name, string entryName)
    {
        if (name.StartsWith('/'))
        {
            throw new LayerRefusedException($"tar entry \"{entryName}\" has an absolute path \"{name}\"; layer entries must be relative to the root");
        }

        var parts = new List<string>();
        foreach (var part in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                throw new LayerRefusedException($"tar entry \"{entryName}\" refers to \"{name}\", which climbs out of the root with \"..\"");
            }

            if (part != ".")
            {
                parts.Add(part);
            }
        }

        return "/" + string.Join('/', parts);
    }

    private void RefuseThroughSymlink(string entryName, string directory)
    {
        for (var dir = directory; dir != "/"; dir = ParentOf(dir))
        {
            if (_symlinks.Contains(dir))
            {
                throw new LayerRefusedException($"tar entry \"{entryName}\" goes through the symbolic link \"{dir}\" of this layer");
            }
        }
    }

    private static EntryMetadata MetadataOf(TarEntry entry)
    {
        var xattrs = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (entry is PaxTarEntry pax)
        {
            foreach (var (key, value) in pax.ExtendedAttributes)
            {
                if (key.StartsWith(XattrPrefix, StringComparison.Ordinal))
                {
                    xattrs[key[XattrPrefix.Length..]] = Encoding.UTF8.GetBytes(value);
                }
            }
        }

        return new EntryMetadata((int)entry.Mode & 0b111_111_111_111, entry.Uid, entry.Gid, entry.ModificationTime, xattrs);
    }

    private static (int Major, int Minor) Device(TarEntry entry) => entry switch
    {
        PosixTarEntry posix => (posix.DeviceMajor, posix.DeviceMinor),
        _ => (0, 0),
    };

    private static string ParentOf(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    private static string Combine(string directory, string name) => directory == "/" ? "/" + name : directory + "/" + name;
}
