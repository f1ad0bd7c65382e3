namespace Vic.Disks.Ext4;

/// <summary>
/// The block group geometry, fixed up front so data can stream into the groups while the metadata
/// that describes it is written last. Classic (non flex_bg) layout: every group starts with its own
/// superblock backup and descriptor copy (sparse_super groups only), block bitmap, inode bitmap and
/// inode table, and the rest of the group holds data.
/// </summary>
internal sealed class Ext4Layout
{
    public const int BlockSize = 4096;
    public const int BlocksPerGroup = BlockSize * 8;
    public const int InodeSize = 256;
    public const int InodesPerBlock = BlockSize / InodeSize;
    public const int DescriptorSize = 32;
    public const int FirstInode = 11;

    /// <summary>mke2fs drops a last group smaller than its own metadata plus this many blocks.</summary>
    private const int MinimumDataBlocksInLastGroup = 64;

    public Ext4Layout(long capacityBytes, int bytesPerInode)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerInode, 1024);
        var blocks = capacityBytes / BlockSize;
        if (blocks > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "ext4 without 64bit holds at most 2^32 blocks (16 TiB)");
        }

        while (true)
        {
            GroupCount = (int)((blocks + BlocksPerGroup - 1) / BlocksPerGroup);
            if (GroupCount == 0)
            {
                throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "capacity is too small for an ext4 image");
            }

            BlockCount = blocks;
            DescriptorBlocks = (GroupCount * DescriptorSize + BlockSize - 1) / BlockSize;
            InodesPerGroup = ChooseInodesPerGroup(capacityBytes / bytesPerInode, GroupCount);
            InodeTableBlocks = InodesPerGroup / InodesPerBlock;
            var last = GroupCount - 1;
            if (GroupSize(last) >= DataStart(last) - GroupStart(last) + MinimumDataBlocksInLastGroup)
            {
                return;
            }

            if (GroupCount == 1)
            {
                throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "capacity is too small for an ext4 image");
            }

            blocks = (long)last * BlocksPerGroup;
        }
    }

    public long BlockCount { get; }

    public int GroupCount { get; }

    public int InodesPerGroup { get; }

    public int InodeTableBlocks { get; }

    public int DescriptorBlocks { get; }

    public uint InodeCount => (uint)((long)InodesPerGroup * GroupCount);

    public long GroupStart(int group) => (long)group * BlocksPerGroup;

    public int GroupSize(int group) => (int)Math.Min(BlocksPerGroup, BlockCount - GroupStart(group));

    public long GroupEnd(int group) => GroupStart(group) + GroupSize(group);

    /// <summary>With sparse_super only groups 0, 1 and powers of 3, 5 and 7 keep superblock backups.</summary>
    public static bool HasSuperblock(int group) =>
        group <= 1 || IsPowerOf(group, 3) || IsPowerOf(group, 5) || IsPowerOf(group, 7);

    public long BlockBitmap(int group) => GroupStart(group) + (HasSuperblock(group) ? 1 + DescriptorBlocks : 0);

    public long InodeBitmap(int group) => BlockBitmap(group) + 1;

    public long InodeTable(int group) => InodeBitmap(group) + 1;

    public long DataStart(int group) => InodeTable(group) + InodeTableBlocks;

    public int GroupOfBlock(long block) => (int)(block / BlocksPerGroup);

    private static int ChooseInodesPerGroup(long wantedInodes, int groups)
    {
        var perGroup = (wantedInodes + groups - 1) / groups;
        var ceiling = Math.Min(BlocksPerGroup, uint.MaxValue / groups);
        perGroup = Math.Clamp(perGroup, InodesPerBlock, ceiling);

        // Whole inode table blocks, as mke2fs does.
        return (int)(perGroup / InodesPerBlock * InodesPerBlock);
    }

    private static bool IsPowerOf(int value, int radix)
    {
        var power = radix;
        while (power < value)
        {
            power *= radix;
        }

        return power == value;
    }
}
