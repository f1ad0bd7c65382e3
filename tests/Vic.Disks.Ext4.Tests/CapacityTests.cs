namespace Vic.Disks.Ext4.Tests;

/// <summary>Running out of room fails clearly; the writer never reads its target.</summary>
public sealed class CapacityTests
{
    [Fact]
    public void DataBeyondTheCapacityThrowsExt4Full()
    {
        using var target = new MemoryStream();
        using var writer = new Ext4Writer(target, new Ext4Options(4 << 20));

        var error = Assert.Throws<Ext4FullException>(() => writer.AddFile("/big", Meta.File(), PatternStream.Dense(8 << 20), 8 << 20));
        Assert.Contains("full", error.Message);
    }

    [Fact]
    public void SparseDataBeyondTheCapacityFitsAsHoles()
    {
        using var target = new MemoryStream();
        using var writer = new Ext4Writer(target, new Ext4Options(4 << 20));

        writer.AddFile("/sparse", Meta.File(), new PatternStream(64 << 20, block => block != 5), 64 << 20);
        writer.Complete();
    }

    [Fact]
    public async Task RunningOutOfInodesThrowsExt4FullAndTheRestStillMakesACleanImage()
    {
        // 4 MiB at one inode per 16 KiB: 256 inodes, of which 247 are usable (2, 11..256).
        var added = 0;
        using var image = Ext4Image.Build(4 << 20, writer =>
        {
            var error = Assert.Throws<Ext4FullException>(() =>
            {
                for (; added < 1000; added++)
                {
                    writer.AddText($"/f{added}", "");
                }
            });
            Assert.Contains("inodes", error.Message);
        });

        Assert.Equal(256 - 9 - 2, added); // less the root and lost+found
        await image.AssertCleanAsync();
        Assert.Contains("Free inodes:              0", await image.DebugfsAsync("stats"));
    }

    [Fact]
    public async Task AStreamEndingEarlyAddsNothingAndGivesItsBlocksBack()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddText("/before", "before");
            Assert.Throws<EndOfStreamException>(() => writer.AddFile("/truncated", Meta.File(), PatternStream.Dense(1 << 20), 2 << 20));
            writer.AddText("/after", "after");
        });

        // e2fsck checks that the blocks written for the failed file are free in the bitmap.
        await image.AssertCleanAsync();
        Assert.DoesNotContain("truncated", await image.DebugfsAsync("ls /"));
        Assert.Equal("after"u8.ToArray(), await image.DumpAsync("/after"));
    }

    [Fact]
    public void NothingCanBeAddedAfterCompletion()
    {
        using var target = new MemoryStream();
        using var writer = new Ext4Writer(target, new Ext4Options(4 << 20));
        writer.Complete();

        Assert.Throws<InvalidOperationException>(() => writer.AddDirectory("/late", Meta.Directory()));
        Assert.Throws<InvalidOperationException>(writer.Complete);
    }
}
