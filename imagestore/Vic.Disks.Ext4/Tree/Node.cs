namespace Vic.Disks.Ext4.Tree;

/// <summary>
/// One inode-to-be. Inode numbers are handed out only at completion, so entries removed before then
/// cost no inode and the numbers stay dense.
/// </summary>
internal abstract class Node(Ext4Metadata metadata)
{
    public Ext4Metadata Metadata { get; set; } = metadata;

    /// <summary>Its xattrs in the order ext4 stores them, validated when the entry is added.</summary>
    public IReadOnlyList<XattrEntry> Xattrs { get; set; } = XattrEncoder.Parse(metadata.Xattrs);

    /// <summary>How many directory entries name it (more than one only for hard links).</summary>
    public int Links { get; set; }

    public uint InodeNumber { get; set; }

    /// <summary>The S_IF* type bits of i_mode.</summary>
    public abstract ushort TypeBits { get; }

    /// <summary>The file type byte of a directory entry.</summary>
    public abstract byte DirectoryEntryType { get; }

    public void Replace(Ext4Metadata metadata)
    {
        Xattrs = XattrEncoder.Parse(metadata.Xattrs);
        Metadata = metadata;
    }
}
