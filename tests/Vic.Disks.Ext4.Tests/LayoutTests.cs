namespace Vic.Disks.Ext4.Tests;

public sealed class LayoutTests
{
    [Fact]
    public void EightGibibytesMakeSixtyFourGroupsWithOneInodePerSixteenKibibytes()
    {
        var layout = new Ext4Layout(8L << 30, 16384);

        Assert.Equal(2L << 20, layout.BlockCount);
        Assert.Equal(64, layout.GroupCount);
        Assert.Equal(8192, layout.InodesPerGroup);
        Assert.Equal(512, layout.InodeTableBlocks);
        Assert.Equal(1, layout.DescriptorBlocks);

        // Group 0: superblock, descriptors, bitmaps, then the inode table; group 2 has no backup.
        Assert.Equal(2, layout.BlockBitmap(0));
        Assert.Equal(4, layout.InodeTable(0));
        Assert.Equal(516, layout.DataStart(0));
        Assert.Equal(2 * 32768, layout.BlockBitmap(2));
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(25, true)]
    [InlineData(49, true)]
    [InlineData(81, true)]
    [InlineData(63, false)]
    public void SparseSuperKeepsBackupsInGroupsZeroOneAndPowersOfThreeFiveSeven(int group, bool backup) =>
        Assert.Equal(backup, Ext4Layout.HasSuperblock(group));

    [Fact]
    public void ALastGroupTooSmallForItsMetadataIsDropped()
    {
        // 128 MiB + 40 blocks: the second group could not even hold its inode table.
        var layout = new Ext4Layout((128L << 20) + (40 * 4096), 16384);

        Assert.Equal(1, layout.GroupCount);
        Assert.Equal(32768, layout.BlockCount);
    }

    [Fact]
    public void TooSmallACapacityIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Ext4Layout(64 * 1024, 16384));

    [Fact]
    public void TheAllocatorSkipsTheNextGroupsMetadataAndReportsFull()
    {
        var layout = new Ext4Layout((128L << 20) + (8L << 20), 16384);
        var allocator = new BlockAllocator(layout);

        var first = allocator.Allocate(40000);
        Assert.Equal((layout.DataStart(0), (int)(32768 - layout.DataStart(0))), first);
        var (start, count) = allocator.Allocate(40000);
        Assert.Equal(layout.DataStart(1), start);
        Assert.Equal(layout.GroupEnd(1), start + count);
        Assert.Throws<Ext4FullException>(() => allocator.Allocate(1));
    }
}
