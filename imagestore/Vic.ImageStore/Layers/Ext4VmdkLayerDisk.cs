using System.Text;
using Vic.Disks.Ext4;
using Vic.Disks.Vmdk;

namespace Vic.ImageStore.Layers;

/// <summary>
/// A layer disk as the ContainerVM mounts it: our ext4 writer writing straight into a
/// monolithicSparse VMDK, so the raw image never exists on the host. Translates the layer's
/// overlayfs forms into ext4: a whiteout is a character device 0/0, an opaque directory carries
/// <c>trusted.overlay.opaque=y</c>.
/// </summary>
public sealed class Ext4VmdkLayerDisk : ILayerDisk, ILayerFilesystem
{
    private const string OpaqueXattr = "trusted.overlay.opaque";
    private static readonly Ext4Metadata DefaultDirectory = new(0b111_101_101, 0, 0, DateTimeOffset.UnixEpoch);

    private readonly MonolithicSparseWriter _vmdk;
    private readonly Ext4Writer _ext4;
    private readonly Dictionary<string, Ext4Metadata> _directories = new(StringComparer.Ordinal);
    private readonly HashSet<string> _opaque = new(StringComparer.Ordinal);

    /// <param name="uuid">The filesystem UUID; random when null. Tests fix it to compare two writes of one tar.</param>
    public Ext4VmdkLayerDisk(string path, long capacityBytes, Guid? uuid = null)
    {
        _vmdk = MonolithicSparseWriter.Create(path, capacityBytes);
        _ext4 = new Ext4Writer(_vmdk, new Ext4Options(capacityBytes, Uuid: uuid, Timestamp: DateTimeOffset.UnixEpoch));
    }

    public ILayerFilesystem Filesystem => this;

    public void Complete()
    {
        _ext4.Complete();
        _vmdk.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        _ext4.Dispose();
        _vmdk.Dispose();
    }

    public void AddDirectory(string path, EntryMetadata metadata)
    {
        var ext4 = ToExt4(metadata);
        _directories[path] = ext4;
        _ext4.AddDirectory(path, _opaque.Contains(path) ? WithOpaque(ext4) : ext4);
    }

    public void AddFile(string path, EntryMetadata metadata, Stream content, long length) => _ext4.AddFile(path, ToExt4(metadata), content, length);

    public void AddSymlink(string path, string target, EntryMetadata metadata) => _ext4.AddSymlink(path, target, ToExt4(metadata));

    public void AddHardLink(string path, string existingPath) => _ext4.AddHardLink(path, existingPath);

    public void AddCharacterDevice(string path, int major, int minor, EntryMetadata metadata) =>
        _ext4.AddDevice(path, Ext4DeviceKind.Character, major, minor, ToExt4(metadata));

    public void AddBlockDevice(string path, int major, int minor, EntryMetadata metadata) =>
        _ext4.AddDevice(path, Ext4DeviceKind.Block, major, minor, ToExt4(metadata));

    public void AddFifo(string path, EntryMetadata metadata) => _ext4.AddFifo(path, ToExt4(metadata));

    public void AddWhiteout(string path) => _ext4.AddDevice(path, Ext4DeviceKind.Character, 0, 0, new Ext4Metadata(0, 0, 0, DateTimeOffset.UnixEpoch));

    public void MarkOpaque(string directory)
    {
        _opaque.Add(directory);
        _ext4.AddDirectory(directory, WithOpaque(_directories.GetValueOrDefault(directory, DefaultDirectory)));
    }

    private static Ext4Metadata WithOpaque(Ext4Metadata metadata)
    {
        var xattrs = new Dictionary<string, byte[]>(metadata.Xattrs ?? new Dictionary<string, byte[]>(), StringComparer.Ordinal)
        {
            [OpaqueXattr] = Encoding.ASCII.GetBytes("y"),
        };
        return metadata with { Xattrs = xattrs };
    }

    private static Ext4Metadata ToExt4(EntryMetadata metadata) =>
        new(metadata.Mode, metadata.Uid, metadata.Gid, metadata.ModifiedAt, metadata.Xattrs.Count == 0 ? null : metadata.Xattrs);
}
