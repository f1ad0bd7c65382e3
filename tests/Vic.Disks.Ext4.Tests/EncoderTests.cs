using System.Buffers.Binary;
using System.Text;

namespace Vic.Disks.Ext4.Tests;

public sealed class EncoderTests
{
    [Fact]
    public void SuperblockCarriesGeometryFeaturesAndIdentity()
    {
        var layout = new Ext4Layout(1L << 30, 16384);
        var uuid = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var sb = Superblock.Encode(layout, new SuperblockCounts(1234, 567), uuid, "layer", Ext4Image.Created, 3);

        Assert.Equal(Superblock.Magic, BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(0x38)));
        Assert.Equal(layout.InodeCount, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x00)));
        Assert.Equal(262144u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x04)));
        Assert.Equal(1234u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x0C)));
        Assert.Equal(567u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x10)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x18))); // 1024 << 2
        Assert.Equal(256, BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(0x58)));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(0x5A)));
        Assert.Equal(0x8u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x5C)));
        Assert.Equal(0x42u, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x60)));
        Assert.Equal(0x6Bu, BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x64)));
        Assert.Equal(Convert.FromHexString("00112233445566778899aabbccddeeff"), sb.AsSpan(0x68, 16).ToArray());
        Assert.Equal("layer", Encoding.UTF8.GetString(sb.AsSpan(0x78, 16)).TrimEnd('\0'));
    }

    [Fact]
    public void NeighbouringRunsMergeIntoExtentsOfAtMost32768Blocks()
    {
        var builder = new ExtentListBuilder();
        builder.Add(0, 1000, 10);
        builder.Add(10, 1010, 40000);
        builder.Add(40010, 90000, 1); // not contiguous on disk
        builder.Add(50000, 90001, 1); // not contiguous in the file

        Assert.Equal(
            [new Extent(0, 1000, 32768), new Extent(32768, 33768, 7242), new Extent(40010, 90000, 1), new Extent(50000, 90001, 1)],
            builder.Extents);
        Assert.Equal(40012, builder.BlockCount);
    }

    [Fact]
    public void UpToFourExtentsLiveInTheInode()
    {
        var extents = Enumerable.Range(0, 4).Select(i => new Extent((uint)(i * 10), 1000 + (i * 20), 5)).ToList();
        var iBlock = new byte[60];

        var written = ExtentTree.Build(extents, iBlock, _ => throw new InvalidOperationException("no tree block expected"));

        Assert.Equal(0, written);
        AssertHeader(iBlock, entries: 4, max: 4, depth: 0);
        Assert.Equal(30u, BinaryPrimitives.ReadUInt32LittleEndian(iBlock.AsSpan(12 + (3 * 12))));
        Assert.Equal(1060u, BinaryPrimitives.ReadUInt32LittleEndian(iBlock.AsSpan(12 + (3 * 12) + 8)));
    }

    [Theory]
    [InlineData(5, 1, 1)]
    [InlineData(340 * 4, 4, 1)]
    [InlineData((340 * 4) + 1, 5 + 1, 2)]
    public void MoreExtentsGoToFullLeafBlocksUnderIndexes(int count, int treeBlocks, int depth)
    {
        var extents = Enumerable.Range(0, count).Select(i => new Extent((uint)(i * 2), 5000L + (i * 2), 1)).ToList();
        var sunk = new List<byte[]>();
        var iBlock = new byte[60];

        var written = ExtentTree.Build(extents, iBlock, block =>
        {
            sunk.Add(block.ToArray());
            return 100 + sunk.Count - 1;
        });

        Assert.Equal(treeBlocks, written);
        var rootEntries = depth == 1 ? sunk.Count : 1;
        AssertHeader(iBlock, rootEntries, 4, depth);
        AssertHeader(sunk[0], Math.Min(count, 340), 340, 0);

        // The root's first index points at the first node below it and starts at file block 0.
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(iBlock.AsSpan(12)));
        Assert.Equal((uint)(100 + sunk.Count - rootEntries), BinaryPrimitives.ReadUInt32LittleEndian(iBlock.AsSpan(16)));
    }

    [Fact]
    public void DirectoryEntriesArePackedAndTheLastStretchesToTheBlockEnd()
    {
        var names = Enumerable.Range(0, 400).Select(i => new DirectoryEntry((uint)(100 + i), 1, $"file{i:D5}")).ToList();

        var blocks = DirectoryBlocks.Encode(12, 2, names);

        // "." and ".." then 4096 / 20-byte records: 203 in the first block, the rest in the second.
        Assert.Equal(2 * 4096, blocks.Length);
        Assert.Equal(12u, BinaryPrimitives.ReadUInt32LittleEndian(blocks));
        Assert.Equal(12, BinaryPrimitives.ReadUInt16LittleEndian(blocks.AsSpan(4)));
        Assert.Equal((byte)'.', blocks[8]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(blocks.AsSpan(12)));
        Assert.Equal(20, DirectoryBlocks.RecordLength("file00000".Length));
        Assert.Equal(4096, RecordLengths(blocks.AsSpan(0, 4096)).Sum());
        Assert.Equal(4096, RecordLengths(blocks.AsSpan(4096)).Sum());
        Assert.Equal(2 + 400, RecordLengths(blocks.AsSpan(0, 4096)).Count + RecordLengths(blocks.AsSpan(4096)).Count);
    }

    [Fact]
    public void SmallXattrsGoInTheInodeWithTheirHash()
    {
        var entries = XattrEncoder.Parse(new Dictionary<string, byte[]> { ["trusted.overlay.opaque"] = "y"u8.ToArray() });

        var area = XattrEncoder.TryEncodeInInode(entries);

        Assert.NotNull(area);
        Assert.Equal(XattrEncoder.Magic, BinaryPrimitives.ReadUInt32LittleEndian(area));
        Assert.Equal("overlay.opaque".Length, area[4]);
        Assert.Equal(4, area[5]); // trusted
        var valueOffset = BinaryPrimitives.ReadUInt16LittleEndian(area.AsSpan(6));
        Assert.Equal((byte)'y', area[4 + valueOffset]);
        Assert.Equal(XattrHash.Entry("overlay.opaque"u8, "y"u8), BinaryPrimitives.ReadUInt32LittleEndian(area.AsSpan(16)));
    }

    [Fact]
    public void XattrsTooBigForTheInodeNeedABlockAndTooBigForABlockAreRefused()
    {
        var big = XattrEncoder.Parse(new Dictionary<string, byte[]> { ["user.big"] = new byte[100] });
        Assert.Null(XattrEncoder.TryEncodeInInode(big));
        var block = XattrEncoder.EncodeBlock(big);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(4))); // refcount
        Assert.Equal(1, block[32 + 1]); // user

        Assert.Throws<ArgumentException>(() => XattrEncoder.Parse(new Dictionary<string, byte[]> { ["user.huge"] = new byte[4096] }));
        Assert.Throws<ArgumentException>(() => XattrEncoder.Parse(new Dictionary<string, byte[]> { ["os2.thing"] = [1] }));
        Assert.False(Ext4Writer.IsSupportedXattrName("system.nfs4_acl"));
        Assert.True(Ext4Writer.IsSupportedXattrName("security.selinux"));
    }

    [Fact]
    public void XattrHashMatchesTheKernelsRotateAndXor()
    {
        // Name "a": hash = 'a'; value word 1: (0x61 << 16) ^ 1.
        Assert.Equal((0x61u << 16) ^ 1u, XattrHash.Entry("a"u8, [1]));
    }

    [Fact]
    public void PosixAclsAreConvertedToTheShortDiskForm()
    {
        // version 2; USER_OBJ rwx; USER 1000 r; GROUP_OBJ r; MASK r; OTHER none.
        var xattr = Convert.FromHexString("02000000" + "01000700ffffffff" + "02000400e8030000" + "04000400ffffffff" + "10000400ffffffff" + "20000000ffffffff");

        var disk = PosixAcl.ToDisk(xattr);

        Assert.Equal(Convert.FromHexString("01000000" + "01000700" + "02000400e8030000" + "04000400" + "10000400" + "20000000"), disk);
    }

    [Theory]
    [InlineData("1970-01-01T00:00:00Z", 0u, 0u)]
    [InlineData("2020-01-02T03:04:05.5Z", 0x5E0D5DA5u, 500_000_000u << 2)]
    [InlineData("1969-12-31T23:59:59.75Z", 0xFFFFFFFFu, 750_000_000u << 2)]
    [InlineData("2038-01-19T03:14:08Z", 0x80000000u, 1u)]
    [InlineData("2200-01-01T00:00:00Z", 0xB09E1900u, 2u)]
    public void TimestampsCarryEpochBitsAndNanoseconds(string time, uint seconds, uint extra) =>
        Assert.Equal((seconds, extra), Ext4Time.Encode(DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture)));

    [Theory]
    [InlineData(1, 3, 0x0103u, 0u)]
    [InlineData(0, 0, 0u, 0u)]
    [InlineData(259, 300, 0u, 0x11032Cu)]
    public void DevicesUseTheOldEncodingWhenBothNumbersFitAByte(int major, int minor, uint first, uint second)
    {
        var block = new byte[60];

        InodeBuilder.EncodeDevice(block, major, minor);

        Assert.Equal(first, BinaryPrimitives.ReadUInt32LittleEndian(block));
        Assert.Equal(second, BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(4)));
    }

    private static void AssertHeader(ReadOnlySpan<byte> node, int entries, int max, int depth)
    {
        Assert.Equal(ExtentTree.Magic, BinaryPrimitives.ReadUInt16LittleEndian(node));
        Assert.Equal(entries, BinaryPrimitives.ReadUInt16LittleEndian(node[2..]));
        Assert.Equal(max, BinaryPrimitives.ReadUInt16LittleEndian(node[4..]));
        Assert.Equal(depth, BinaryPrimitives.ReadUInt16LittleEndian(node[6..]));
    }

    private static List<int> RecordLengths(ReadOnlySpan<byte> block)
    {
        var lengths = new List<int>();
        for (var offset = 0; offset < block.Length && lengths.Count < 1000;)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(block[(offset + 4)..]);
            lengths.Add(length);
            offset += length;
        }

        return lengths;
    }
}
