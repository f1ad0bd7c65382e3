using System.Text;
using Vic.Disks.Ext4.Tree;

namespace Vic.Disks.Ext4;

/// <summary>
/// Writes an ext4 filesystem image in one pass, without root, loop devices or mkfs. File content is
/// streamed to data blocks as it is added (zero blocks become holes); inodes, directories, bitmaps
/// and superblocks are written by <see cref="Complete"/>. Memory grows with the number of entries,
/// not with file sizes. Entries behave like a layer's tar stream: adding a path that exists replaces
/// it (a directory over a directory only takes the new metadata).
/// </summary>
/// <remarks>The target is never read, and must read as zeros wherever it is never written (a new
/// file or a sparse disk stream). The caller keeps ownership of it.</remarks>
public sealed class Ext4Writer : IDisposable
{
    /// <summary>PATH_MAX less the NUL: what the kernel accepts as a symlink target.</summary>
    private const int MaxSymlinkTarget = Ext4Layout.BlockSize - 1;

    private readonly Ext4Layout _layout;
    private readonly BlockAllocator _allocator;
    private readonly BlockTarget _target;
    private readonly FileContentWriter _content;
    private readonly FileTree _tree;
    private readonly DirectoryNode _lostFound;
    private readonly Guid _uuid;
    private readonly string _label;
    private readonly DateTimeOffset _createdAt;
    private bool _completed;
    private bool _disposed;

    public Ext4Writer(Stream target, Ext4Options options)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        if (Encoding.UTF8.GetByteCount(options.VolumeLabel) > 16)
        {
            throw new ArgumentException("the volume label is longer than 16 bytes", nameof(options));
        }

        _layout = new Ext4Layout(options.CapacityBytes, options.BytesPerInode);
        _target = new BlockTarget(target);
        _allocator = new BlockAllocator(_layout);
        _content = new FileContentWriter(_allocator, _target);
        _uuid = options.Uuid is { } uuid && uuid != Guid.Empty ? uuid : Guid.NewGuid();
        _label = options.VolumeLabel;
        _createdAt = options.Timestamp ?? DateTimeOffset.UtcNow;
        var implicitDirectory = new Ext4Metadata(0x1ED, 0, 0, _createdAt); // 0755 root:root

        // Inode 2 and 11 onward are usable; 1 and 3-10 are reserved.
        _tree = new FileTree(_layout.InodeCount - 9, () => implicitDirectory, file => _allocator.Free(file.Content.Extents));
        _lostFound = new DirectoryNode(implicitDirectory with { Mode = 0x1C0 }); // 0700, as mke2fs makes it
        _tree.Attach(_tree.Root, "lost+found", _lostFound);
    }

    /// <summary>The number of bytes in a block of the image.</summary>
    public static int BlockSize => Ext4Layout.BlockSize;

    /// <summary>The size of the filesystem: <see cref="Ext4Options.CapacityBytes"/> in whole blocks,
    /// less a last block group too small to hold its own metadata.</summary>
    public long SizeBytes => _layout.BlockCount * Ext4Layout.BlockSize;

    /// <summary>Whether ext4 can store an extended attribute of this name (namespaces user., trusted.,
    /// security., and the POSIX ACLs system.posix_acl_access and system.posix_acl_default).</summary>
    public static bool IsSupportedXattrName(string name) => XattrEntry.IsSupported(name);

    /// <summary>Creates a directory, or replaces the metadata of an existing one (keeping its entries).</summary>
    public void AddDirectory(string path, Ext4Metadata metadata)
    {
        var names = Begin(path, metadata);
        if (names.Length == 0)
        {
            _tree.Root.Replace(metadata);
            return;
        }

        var parent = _tree.ParentOf(names, path);
        if (parent.Children.TryGetValue(names[^1], out var existing) && existing is DirectoryNode directory)
        {
            directory.Replace(metadata);
            return;
        }

        Put(parent, names[^1], new DirectoryNode(metadata));
    }

    /// <summary>Adds a regular file, reading exactly <paramref name="length"/> bytes of
    /// <paramref name="content"/> straight into the image. All-zero 4 KiB blocks become holes. If it
    /// throws (the stream ends early: <see cref="EndOfStreamException"/>; the image is full:
    /// <see cref="Ext4FullException"/>) the path is left absent and its blocks free.</summary>
    public void AddFile(string path, Ext4Metadata metadata, Stream content, long length)
    {
        ArgumentNullException.ThrowIfNull(content);
        var names = BeginEntry(path, metadata);
        var parent = _tree.ParentOf(names, path);
        Unlink(parent, names[^1]);
        _tree.EnsureInodeAvailable();
        var extents = _content.Write(content, length);
        _tree.Attach(parent, names[^1], new FileNode(metadata, length, extents));
    }

    /// <summary>Adds a symbolic link: in the inode itself when shorter than 60 bytes, else in a block.</summary>
    public void AddSymlink(string path, string target, Ext4Metadata metadata)
    {
        ArgumentNullException.ThrowIfNull(target);
        var bytes = ImagePath.Utf8.GetBytes(target);
        if (bytes.Length is 0 or > MaxSymlinkTarget || bytes.Contains((byte)0))
        {
            throw new ArgumentException($"symlink target of '{path}' must be 1 to {MaxSymlinkTarget} bytes without NUL", nameof(target));
        }

        var names = BeginEntry(path, metadata);
        Put(_tree.ParentOf(names, path), names[^1], new SymlinkNode(metadata, bytes));
    }

    /// <summary>Adds another name for an existing non-directory, raising its link count.</summary>
    public void AddHardLink(string path, string existingPath)
    {
        var names = BeginEntry(path, null);
        var existingNames = ImagePath.Split(existingPath);
        var existing = _tree.Find(existingNames)
            ?? throw new FileNotFoundException($"cannot link '{path}' to '{existingPath}': it does not exist", existingPath);
        if (existing is DirectoryNode)
        {
            throw new ArgumentException($"cannot link '{path}' to directory '{existingPath}'", nameof(existingPath));
        }

        var parent = _tree.ParentOf(names, path);
        if (parent.Children.TryGetValue(names[^1], out var current) && ReferenceEquals(current, existing))
        {
            return;
        }

        if (existingNames.AsSpan().StartsWith(names))
        {
            throw new InvalidOperationException($"cannot replace '{path}' by a link to '{existingPath}', which is inside it");
        }

        Unlink(parent, names[^1]);
        _tree.Attach(parent, names[^1], existing);
    }

    /// <summary>Adds a device node; a character device 0/0 is an overlayfs whiteout.</summary>
    public void AddDevice(string path, Ext4DeviceKind kind, int major, int minor, Ext4Metadata metadata)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(major);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(major, 0xFFF);
        ArgumentOutOfRangeException.ThrowIfNegative(minor);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minor, 0xFFFFF);
        var special = kind == Ext4DeviceKind.Block ? SpecialKind.BlockDevice : SpecialKind.CharacterDevice;
        AddSpecial(path, metadata, special, major, minor);
    }

    public void AddFifo(string path, Ext4Metadata metadata) => AddSpecial(path, metadata, SpecialKind.Fifo, 0, 0);

    public void AddSocket(string path, Ext4Metadata metadata) => AddSpecial(path, metadata, SpecialKind.Socket, 0, 0);

    /// <summary>Removes an entry added earlier (a directory with everything in it); false if absent.</summary>
    public bool Remove(string path)
    {
        var names = BeginEntry(path, null);
        if (_tree.Find(names[..^1]) is not DirectoryNode parent || !parent.Children.ContainsKey(names[^1]))
        {
            return false;
        }

        _tree.Detach(parent, names[^1]);
        return true;
    }

    /// <summary>Writes everything but the file data and extends the target to <see cref="SizeBytes"/>
    /// (SetLength) if shorter; afterwards the image is a valid filesystem and the writer accepts nothing
    /// more.</summary>
    public void Complete()
    {
        EnsureOpen();
        _completed = true;
        new ImageFinalizer(_layout, _allocator, _target, _uuid, _label, _createdAt).Write(_tree.Root, _lostFound);
    }

    /// <summary>Leaves the target open: it belongs to the caller. An image not completed is not valid.</summary>
    public void Dispose() => _disposed = true;

    private void AddSpecial(string path, Ext4Metadata metadata, SpecialKind kind, int major, int minor)
    {
        var names = BeginEntry(path, metadata);
        Put(_tree.ParentOf(names, path), names[^1], new SpecialNode(metadata, kind, major, minor));
    }

    /// <summary>Replaces whatever <paramref name="name"/> was with <paramref name="node"/>.</summary>
    private void Put(DirectoryNode parent, string name, Node node)
    {
        Unlink(parent, name);
        _tree.Attach(parent, name, node);
    }

    private void Unlink(DirectoryNode parent, string name)
    {
        if (parent.Children.ContainsKey(name))
        {
            _tree.Detach(parent, name);
        }
    }

    private string[] Begin(string path, Ext4Metadata? metadata)
    {
        EnsureOpen();
        if (metadata is not null)
        {
            // Validates the xattrs before anything changes.
            XattrEncoder.Parse(metadata.Xattrs);
        }

        return ImagePath.Split(path);
    }

    private string[] BeginEntry(string path, Ext4Metadata? metadata)
    {
        var names = Begin(path, metadata);
        return names.Length > 0 ? names : throw new ArgumentException("the root directory can only be added as a directory", nameof(path));
    }

    private void EnsureOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            throw new InvalidOperationException("the ext4 image is already complete");
        }
    }
}
