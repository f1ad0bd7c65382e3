using System.Text.RegularExpressions;
using Vic.TestSupport;

namespace Vic.Disks.Ext4.Tests;

/// <summary>File content: small, empty, fragmented into many extents, across block groups, sparse.</summary>
public sealed partial class ContentTests
{
    [Fact]
    public async Task SmallEmptyAndPartialBlockFilesReadBackExactly()
    {
        var odd = PatternStream.Dense(4096 * 3 + 5);
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddFile("/empty", Meta.File(), Stream.Null, 0);
            writer.AddFile("/odd", Meta.File(), PatternStream.Dense(odd.Length), odd.Length);
            writer.AddText("/hello", "hello, world\n");
        });

        await image.AssertCleanAsync();
        Assert.Empty(await image.DumpAsync("/empty"));
        Assert.Contains("Size: 0", await image.StatAsync("/empty"));
        AssertSame(odd, await image.DumpAsync("/odd"));
        Assert.Equal("hello, world\n"u8.ToArray(), await image.DumpAsync("/hello"));
    }

    [Fact]
    public async Task AFileOfMoreThan1360ExtentsGetsATreeOfDepthTwo()
    {
        // Every other block is zero: each data block is an extent of its own.
        const int blocks = 2 * 1400;
        var content = new PatternStream(blocks * 4096L, block => block % 2 == 1);
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddText("/before", "keeps the file's blocks from starting a group");
            writer.AddFile("/fragmented", Meta.File(), new PatternStream(content.Length, block => block % 2 == 1), content.Length);
        });

        await image.AssertCleanAsync();
        var stat = await image.StatAsync("/fragmented");
        Assert.Contains("Level Entries", await image.DebugfsAsync("dump_extents /fragmented"));
        Assert.Contains(" 2/ 2 ", await image.DebugfsAsync("dump_extents /fragmented")); // a leaf at depth 2
        Assert.Contains($"Blockcount: {(1400 + 5 + 1) * 8}", stat); // data, 5 leaves and 1 index block
        AssertSame(content, await image.DumpAsync("/fragmented"));
    }

    [Fact]
    public async Task DataCrossesBlockGroupsAndTheBackupSuperblockIsValidToo()
    {
        var big = PatternStream.Dense(140L << 20);
        using var image = Ext4Image.Build(300L << 20, writer =>
        {
            writer.AddFile("/big", Meta.File(), PatternStream.Dense(big.Length), big.Length);
            writer.AddText("/after", "in group 1");
        });

        await image.AssertCleanAsync();
        var backup = await Command.RunAsync("/usr/sbin/e2fsck", ["-fn", "-b", "32768", "-B", "4096", image.Path]);
        Assert.True(backup.ExitCode == 0, $"e2fsck with the group 1 backup superblock:\n{backup}");
        AssertSame(big, await image.DumpAsync("/big"));
        Assert.Equal("in group 1"u8.ToArray(), await image.DumpAsync("/after"));
    }

    [Fact]
    public async Task AFiveGibibyteSparseFileCostsOnlyItsDataBlocks()
    {
        const long length = 5L << 30;
        const long dataFrom = length - 10000;
        var dataBlocks = (length / 4096) - (dataFrom / 4096);
        static bool Zero(long block) => block < dataFrom / 4096;
        var content = new PatternStream(length, Zero);
        using var image = Ext4Image.Build(8L << 30, writer =>
        {
            writer.AddText("/small", "x");
            writer.AddFile("/sparse", Meta.File(), new PatternStream(length, Zero), length);
        });

        await image.AssertCleanAsync();
        var stat = await image.StatAsync("/sparse");
        Assert.Contains($"Size: {length}", stat);
        Assert.Contains($"Blockcount: {dataBlocks * 8}", stat);

        // The image is 8 GiB long but holds little more than metadata.
        Assert.Equal(8L << 30, new FileInfo(image.Path).Length);
        var allocated = await Command.RunAsync("stat", ["-c", "%b %B", image.Path]);
        var fields = allocated.StandardOutput.Split(' ');
        Assert.InRange(long.Parse(fields[0]) * long.Parse(fields[1]), 1, 4L << 20);

        // Read the tail straight from the image where its extent says it lives.
        var extent = ExtentLine().Match(stat);
        Assert.True(extent.Success, stat);
        var logical = long.Parse(extent.Groups[1].Value);
        var physical = long.Parse(extent.Groups[2].Value);
        Assert.Equal(dataFrom / 4096, logical);
        await using var file = File.OpenRead(image.Path);
        file.Position = physical * 4096;
        var tail = new byte[length - (logical * 4096)];
        file.ReadExactly(tail);
        for (var i = 0; i < tail.Length; i++)
        {
            Assert.Equal(content.Expected((logical * 4096) + i), tail[i]);
        }
    }

    private static void AssertSame(PatternStream expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++)
        {
            if (actual[i] != expected.Expected(i))
            {
                Assert.Fail($"byte {i} is {actual[i]}, expected {expected.Expected(i)}");
            }
        }
    }

    [GeneratedRegex(@"EXTENTS:\n\((\d+)(?:-\d+)?\):(\d+)")]
    private static partial Regex ExtentLine();
}
