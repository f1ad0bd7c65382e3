namespace Vic.Disks.Ext4.Tests;

/// <summary>Big directories, removal and replacement.</summary>
public sealed class DirectoryTests
{
    [Fact]
    public async Task ADirectoryOfTenThousandFilesListsThemAll()
    {
        using var image = Ext4Image.Build(256L << 20, writer =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                writer.AddText($"/many/file-{i:D5}", i % 100 == 0 ? $"content {i}" : "");
            }

            writer.AddDirectory("/many/sub", Meta.Directory());
        });

        await image.AssertCleanAsync();
        var listing = await image.DebugfsAsync("ls -p /many");
        var names = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('/')[5]).ToHashSet();
        Assert.Equal(10_000 + 3, names.Count); // with ".", ".." and sub
        Assert.Contains("file-09999", names);
        Assert.Contains("Links: 3", await image.StatAsync("/many"));
        Assert.Equal("content 9900"u8.ToArray(), await image.DumpAsync("/many/file-09900"));
    }

    [Fact]
    public async Task RemovedEntriesAndSubtreesAreGoneAndTheirBlocksFree()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddFile("/gone/big", Meta.File(), PatternStream.Dense(1 << 20), 1 << 20);
            writer.AddText("/gone/deeper/file", "x");
            writer.AddText("/kept/file", "kept");
            writer.AddText("/kept/removed", "removed");
            writer.AddHardLink("/kept/link", "/kept/file");
            Assert.True(writer.Remove("/gone"));
            Assert.True(writer.Remove("/kept/removed"));
            Assert.True(writer.Remove("/kept/link"));
            Assert.False(writer.Remove("/never/there"));
        });

        // e2fsck checks the bitmaps and free counts against what the inodes use.
        await image.AssertCleanAsync();
        var root = await image.DebugfsAsync("ls /");
        Assert.DoesNotContain("gone", root);
        Assert.DoesNotContain("removed", await image.DebugfsAsync("ls /kept"));
        Assert.Contains("Links: 1", await image.StatAsync("/kept/file"));
    }

    [Fact]
    public async Task AddingAnExistingPathReplacesItAsATarStreamWould()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddText("/etc/config", "old");
            writer.AddText("/etc/config", "new");
            writer.AddText("/was-file", "file");
            writer.AddDirectory("/was-file", Meta.Directory());
            writer.AddText("/was-dir/inside", "x");
            writer.AddSymlink("/was-dir", "elsewhere", Meta.File(0x1FF));
            writer.AddDirectory("/dir", Meta.Directory(0x1ED));
            writer.AddText("/dir/kept", "kept");
            writer.AddDirectory("/dir", Meta.Directory(0x1C0));
            writer.AddText("/linked", "shared");
            writer.AddHardLink("/other", "/linked");
            writer.AddText("/linked", "replaced");
        });

        await image.AssertCleanAsync();
        Assert.Equal("new"u8.ToArray(), await image.DumpAsync("/etc/config"));
        Assert.Contains("Type: directory", await image.StatAsync("/was-file"));
        Assert.Contains("Fast link dest: \"elsewhere\"", await image.StatAsync("/was-dir"));
        var directory = await image.StatAsync("/dir");
        Assert.Contains("Mode:  0700", directory);
        Assert.Equal("kept"u8.ToArray(), await image.DumpAsync("/dir/kept"));
        Assert.Equal("shared"u8.ToArray(), await image.DumpAsync("/other"));
        Assert.Contains("Links: 1", await image.StatAsync("/other"));
        Assert.Equal("replaced"u8.ToArray(), await image.DumpAsync("/linked"));
    }

    [Fact]
    public void PathsThroughNonDirectoriesAndLinksToDirectoriesAreRefused()
    {
        using var target = new MemoryStream();
        using var writer = new Ext4Writer(target, new Ext4Options(64 << 20));
        writer.AddText("/file", "x");
        writer.AddDirectory("/dir", Meta.Directory());

        Assert.Throws<InvalidOperationException>(() => writer.AddText("/file/child", "x"));
        Assert.Throws<ArgumentException>(() => writer.AddHardLink("/link", "/dir"));
        Assert.Throws<FileNotFoundException>(() => writer.AddHardLink("/link", "/missing"));
        Assert.Throws<ArgumentException>(() => writer.AddText("/a/../b", "x"));
        Assert.Throws<ArgumentException>(() => writer.AddText("/", "x"));
        Assert.Throws<ArgumentException>(() => writer.AddSymlink("/s", "", Meta.File()));
        Assert.ThrowsAny<ArgumentException>(() => writer.AddText("/" + new string('n', 256), "x"));
        Assert.ThrowsAny<ArgumentException>(() => writer.AddText("/lone-\ud800-surrogate", "x"));
    }
}
