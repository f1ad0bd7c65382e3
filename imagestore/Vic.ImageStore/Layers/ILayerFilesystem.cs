namespace Vic.ImageStore.Layers;

/// <summary>What one tar entry becomes on the layer's filesystem, apart from its content.</summary>
public sealed record EntryMetadata(int Mode, int Uid, int Gid, DateTimeOffset ModifiedAt, IReadOnlyDictionary<string, byte[]> Xattrs);

/// <summary>
/// The filesystem a layer tar is applied to. Paths are absolute, normalised and already checked to
/// stay inside the root. Implemented over our ext4 writer; tests use a recording fake.
/// </summary>
public interface ILayerFilesystem
{
    void AddDirectory(string path, EntryMetadata metadata);

    void AddFile(string path, EntryMetadata metadata, Stream content, long length);

    void AddSymlink(string path, string target, EntryMetadata metadata);

    void AddHardLink(string path, string existingPath);

    void AddCharacterDevice(string path, int major, int minor, EntryMetadata metadata);

    void AddBlockDevice(string path, int major, int minor, EntryMetadata metadata);

    void AddFifo(string path, EntryMetadata metadata);

    /// <summary>An overlayfs whiteout: this path is deleted in the stacked view.</summary>
    void AddWhiteout(string path);

    /// <summary>An overlayfs opaque directory: nothing of lower layers shows through it.</summary>
    void MarkOpaque(string directory);
}
