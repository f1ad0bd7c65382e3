namespace Vic.Disks.Ext4;

/// <summary>Allocates and writes the blocks that <see cref="Ext4Writer.Complete"/> creates: directories,
/// extent tree nodes, xattr blocks and long symlink targets.</summary>
internal sealed class MetadataBlocks(BlockAllocator allocator, BlockTarget target)
{
    /// <summary>Writes one block and returns where it went.</summary>
    public long WriteBlock(ReadOnlySpan<byte> block)
    {
        var (start, _) = allocator.Allocate(1);
        target.Write(start, block);
        return start;
    }

    /// <summary>Writes whole blocks as file blocks 0.. of one inode and returns their extents.</summary>
    public ExtentListBuilder WriteBlocks(ReadOnlySpan<byte> blocks)
    {
        var extents = new ExtentListBuilder();
        var total = blocks.Length / Ext4Layout.BlockSize;
        var done = 0;
        while (done < total)
        {
            var (start, count) = allocator.Allocate(total - done);
            target.Write(start, blocks.Slice(done * Ext4Layout.BlockSize, count * Ext4Layout.BlockSize));
            extents.Add(done, start, count);
            done += count;
        }

        return extents;
    }
}
