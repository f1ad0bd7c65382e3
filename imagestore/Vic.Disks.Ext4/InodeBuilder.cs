using System.Buffers.Binary;
using Vic.Disks.Ext4.Tree;

namespace Vic.Disks.Ext4;

/// <summary>
/// Turns a numbered node into its inode, writing the blocks it needs beyond the data that already
/// streamed in: directory blocks, extent tree nodes, a long symlink's target, an xattr block.
/// </summary>
internal sealed class InodeBuilder(MetadataBlocks blocks, DateTimeOffset createdAt)
{
    /// <summary>ext4's link limit; dir_nlink records a directory with more subdirectories as 1.</summary>
    private const int MaxDirectoryLinks = 65000;

    public Inode Build(Node node)
    {
        var inode = new Inode
        {
            Mode = (ushort)(node.TypeBits | (node.Metadata.Mode & 0xFFF)),
            Uid = (uint)node.Metadata.Uid,
            Gid = (uint)node.Metadata.Gid,
            Links = (ushort)(node is DirectoryNode directory ? DirectoryLinks(directory) : node.Links),
            ModifiedAt = node.Metadata.ModifiedAt,

            // Since userspace cannot set crtime, e2fsck checks it against the filesystem's creation.
            CreatedAt = createdAt,
        };
        switch (node)
        {
            case DirectoryNode dir:
                var content = blocks.WriteBlocks(DirectoryBlocks.Encode(dir.InodeNumber, (dir.Parent ?? dir).InodeNumber, Entries(dir)));
                SetExtents(inode, content, content.BlockCount * Ext4Layout.BlockSize);
                break;
            case FileNode file:
                SetExtents(inode, file.Content, file.Size);
                break;
            case SymlinkNode link when link.Target.Length < Inode.BlockFieldSize:
                // A fast symlink: the target lives in i_block, NUL-terminated.
                link.Target.CopyTo(inode.Block, 0);
                inode.Size = (ulong)link.Target.Length;
                break;
            case SymlinkNode link:
                var block = new byte[Ext4Layout.BlockSize];
                link.Target.CopyTo(block, 0);
                SetExtents(inode, blocks.WriteBlocks(block), link.Target.Length);
                break;
            case SpecialNode { Kind: SpecialKind.CharacterDevice or SpecialKind.BlockDevice } device:
                EncodeDevice(inode.Block, device.Major, device.Minor);
                break;
        }

        AddXattrs(inode, node.Xattrs);
        return inode;
    }

    /// <summary>i_block of a device: the old 16-bit encoding when both numbers fit a byte, else the new one.</summary>
    internal static void EncodeDevice(Span<byte> block, int major, int minor)
    {
        if (major is >= 0 and < 256 && minor is >= 0 and < 256)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(block, (uint)((major << 8) | minor));
        }
        else
        {
            var encoded = (uint)(minor & 0xFF) | ((uint)major << 8) | ((uint)(minor & ~0xFF) << 12);
            BinaryPrimitives.WriteUInt32LittleEndian(block[4..], encoded);
        }
    }

    private static int DirectoryLinks(DirectoryNode directory)
    {
        var links = 2 + directory.Children.Values.Count(child => child is DirectoryNode);
        return links >= MaxDirectoryLinks ? 1 : links;
    }

    private static IEnumerable<DirectoryEntry> Entries(DirectoryNode directory) =>
        directory.SortedChildren().Select(pair => new DirectoryEntry(pair.Value.InodeNumber, pair.Value.DirectoryEntryType, pair.Key));

    private void SetExtents(Inode inode, ExtentListBuilder content, long size)
    {
        inode.Flags |= Inode.ExtentsFlag;
        inode.Size = (ulong)size;
        var treeBlocks = ExtentTree.Build(content.Extents, inode.Block, blocks.WriteBlock);
        inode.Blocks += content.BlockCount + treeBlocks;
    }

    private void AddXattrs(Inode inode, IReadOnlyList<XattrEntry> xattrs)
    {
        if (xattrs.Count == 0)
        {
            return;
        }

        inode.InlineXattrs = XattrEncoder.TryEncodeInInode(xattrs);
        if (inode.InlineXattrs is null)
        {
            inode.XattrBlock = blocks.WriteBlock(XattrEncoder.EncodeBlock(xattrs));
            inode.Blocks++;
        }
    }
}
