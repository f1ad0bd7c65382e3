using System.Text.Json;
using Vic.Registry;

namespace Vic.ImageStore.Images;

/// <summary>
/// The images of a VCH and the names pointing at them. Each image is one JSON file written
/// atomically (temp file, fsync, rename) beside its verbatim config, so a crash leaves either the
/// old record or the new one. Tags are unique: tagging moves a name from whichever image had it.
/// </summary>
public sealed class ImageCatalog
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly string _directory;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ImageRecord> _byId = new(StringComparer.Ordinal);

    public ImageCatalog(string root)
    {
        _directory = Path.Combine(root, "images");
        Directory.CreateDirectory(_directory);
        foreach (var temp in Directory.EnumerateFiles(_directory, "*.tmp"))
        {
            File.Delete(temp);
        }

        foreach (var file in Directory.EnumerateFiles(_directory, "*.json"))
        {
            var record = JsonSerializer.Deserialize<ImageRecord>(File.ReadAllText(file), Json)!;
            _byId[record.Id] = record;
        }
    }

    public IReadOnlyList<ImageRecord> List()
    {
        lock (_gate)
        {
            return [.. _byId.Values.OrderByDescending(i => i.Stored)];
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byId.Count;
            }
        }
    }

    public byte[] ReadConfig(string id) => File.ReadAllBytes(ConfigPath(id));

    /// <summary>Stores an image (config first, then the record) and points <paramref name="tag"/> at it.</summary>
    public ImageRecord Add(ImageRecord image, byte[] config, string? tag, string? repoDigest)
    {
        lock (_gate)
        {
            if (!File.Exists(ConfigPath(image.Id)))
            {
                WriteAtomically(ConfigPath(image.Id), config);
            }

            var current = _byId.GetValueOrDefault(image.Id) ?? image;
            if (repoDigest is not null && !current.RepoDigests.Contains(repoDigest))
            {
                current = current with { RepoDigests = [.. current.RepoDigests, repoDigest] };
            }

            Save(current);
            return tag is null ? current : TagLocked(current.Id, tag);
        }
    }

    /// <summary>
    /// Finds an image as dockerd does: by name (tag or digest reference), full id with or without
    /// <c>sha256:</c>, or unique id prefix.
    /// </summary>
    public ImageRecord? Find(string nameOrId)
    {
        lock (_gate)
        {
            return FindLocked(nameOrId);
        }
    }

    public ImageRecord Tag(string id, string familiarTag)
    {
        lock (_gate)
        {
            return TagLocked(id, familiarTag);
        }
    }

    /// <summary>Removes one name from the image that has it; the image stays (possibly dangling).</summary>
    public ImageRecord Untag(string id, string familiarName)
    {
        lock (_gate)
        {
            var image = _byId[id];
            var updated = image with
            {
                RepoTags = [.. image.RepoTags.Where(t => t != familiarName)],
                RepoDigests = [.. image.RepoDigests.Where(d => d != familiarName)],
            };
            Save(updated);
            return updated;
        }
    }

    /// <summary>Forgets an image record and its config. Its layers are the caller's to collect.</summary>
    public void Delete(string id)
    {
        lock (_gate)
        {
            File.Delete(RecordPath(id));
            File.Delete(ConfigPath(id));
            _byId.Remove(id);
        }
    }

    /// <summary>diffIDs used by any image: layers outside this set can go.</summary>
    public IReadOnlySet<string> LayersInUse()
    {
        lock (_gate)
        {
            return _byId.Values.SelectMany(i => i.DiffIds).ToHashSet(StringComparer.Ordinal);
        }
    }

    private ImageRecord TagLocked(string id, string familiarTag)
    {
        foreach (var other in _byId.Values.Where(i => i.Id != id && i.RepoTags.Contains(familiarTag)).ToList())
        {
            Save(other with { RepoTags = [.. other.RepoTags.Where(t => t != familiarTag)] });
        }

        var image = _byId[id];
        if (!image.RepoTags.Contains(familiarTag))
        {
            image = image with { RepoTags = [.. image.RepoTags, familiarTag] };
            Save(image);
        }

        return image;
    }

    private ImageRecord? FindLocked(string nameOrId)
    {
        // dockerd's order: a full id, then a name, then a unique id prefix.
        var hex = nameOrId.StartsWith("sha256:", StringComparison.Ordinal) ? nameOrId[7..] : nameOrId;
        var isHex = hex.Length > 0 && hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
        if (isHex && hex.Length == 64)
        {
            return _byId.GetValueOrDefault("sha256:" + hex);
        }

        if (FindByName(nameOrId) is { } named)
        {
            return named;
        }

        var byPrefix = isHex ? _byId.Values.Where(i => i.Id[7..].StartsWith(hex, StringComparison.Ordinal)).Take(2).ToList() : [];
        return byPrefix.Count == 1 ? byPrefix[0] : null;
    }

    private ImageRecord? FindByName(string name)
    {
        if (!ImageReference.TryParse(name, out var reference, out _))
        {
            return null;
        }

        var familiar = reference.FamiliarString;
        return _byId.Values.FirstOrDefault(i => i.RepoTags.Contains(familiar) || i.RepoDigests.Contains(familiar));
    }

    private void Save(ImageRecord image)
    {
        WriteAtomically(RecordPath(image.Id), JsonSerializer.SerializeToUtf8Bytes(image, Json));
        _byId[image.Id] = image;
    }

    private string RecordPath(string id) => Path.Combine(_directory, Digests.Hex(id) + ".json");

    private string ConfigPath(string id) => Path.Combine(_directory, Digests.Hex(id) + ".config");

    private static void WriteAtomically(string path, byte[] content)
    {
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            file.Write(content);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
