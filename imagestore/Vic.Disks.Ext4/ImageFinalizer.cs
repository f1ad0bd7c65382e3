using Vic.Disks.Ext4.Tree;

namespace Vic.Disks.Ext4;

/// <summary>
/// The completion step: numbers the inodes, writes directories and the other late metadata, the inode
/// tables, then bitmaps, group descriptors and superblocks (primary and sparse_super backups).
/// </summary>
internal sealed class ImageFinalizer(Ext4Layout layout, BlockAllocator allocator, BlockTarget target, Guid uuid, string label, DateTimeOffset createdAt)
{
    public void Write(DirectoryNode root, DirectoryNode? lostFound)
    {
        var order = InodeNumbering.Assign(root, lostFound);
        var directories = new int[layout.GroupCount];
        var builder = new InodeBuilder(new MetadataBlocks(allocator, target), createdAt);
        var table = new InodeTableWriter(layout, target);
        var encoded = new byte[Ext4Layout.InodeSize];
        foreach (var node in order)
        {
            builder.Build(node).Encode(encoded);
            table.Write(node.InodeNumber, encoded);
            if (node is DirectoryNode)
            {
                directories[(node.InodeNumber - 1) / layout.InodesPerGroup]++;
            }
        }

        table.Flush();
        var lastUsed = Math.Max(order[^1].InodeNumber, Ext4Layout.FirstInode - 1);
        WriteGroupMetadata(lastUsed, directories);
        target.Finish(layout.BlockCount);
    }

    private void WriteGroupMetadata(uint lastUsed, int[] directories)
    {
        var summaries = new List<GroupSummary>();
        long freeBlocks = 0;
        for (var group = 0; group < layout.GroupCount; group++)
        {
            target.Write(layout.BlockBitmap(group), Bitmaps.Blocks(layout, allocator, group, out var groupFreeBlocks));
            target.Write(layout.InodeBitmap(group), Bitmaps.Inodes(layout, lastUsed, group, out var groupFreeInodes));
            summaries.Add(new GroupSummary(groupFreeBlocks, groupFreeInodes, directories[group]));
            freeBlocks += groupFreeBlocks;
        }

        var descriptors = GroupSummary.EncodeTable(layout, summaries);
        var counts = new SuperblockCounts(freeBlocks, layout.InodeCount - lastUsed);
        for (var group = 0; group < layout.GroupCount; group++)
        {
            if (!Ext4Layout.HasSuperblock(group))
            {
                continue;
            }

            // Block 0 keeps its first 1024 bytes for a boot sector; backups start their group's first block.
            var first = new byte[Ext4Layout.BlockSize];
            var offset = group == 0 ? 1024 : 0;
            Superblock.Encode(layout, counts, uuid, label, createdAt, group).CopyTo(first, offset);
            target.Write(layout.GroupStart(group), first);
            target.Write(layout.GroupStart(group) + 1, descriptors);
        }
    }
}
