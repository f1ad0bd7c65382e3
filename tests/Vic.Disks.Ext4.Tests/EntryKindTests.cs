namespace Vic.Disks.Ext4.Tests;

/// <summary>Every kind of entry a layer holds, checked by e2fsck and read back with debugfs.</summary>
public sealed class EntryKindTests
{
    [Fact]
    public async Task OwnersModesTimesAndLinkCountsAreWhatWasAdded()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddDirectory("/usr", Meta.Directory(0x1ED));
            writer.AddText("/usr/bin/passwd", "#!/bin/sh\n", Meta.File(0xDED, uid: 100000, gid: 70000)); // 04755 | 02000
            writer.AddDirectory("/tmp", Meta.Directory(0x3FF)); // 01777
            writer.AddDirectory("/usr/lib", Meta.Directory());
            writer.AddDirectory("/usr/share", Meta.Directory());
        });

        await image.AssertCleanAsync();
        var passwd = await image.StatAsync("/usr/bin/passwd");
        Assert.Contains("Type: regular    Mode:  06755", passwd);
        Assert.Matches(@"User: 100000\s+Group: 70000", passwd);
        Assert.Contains("Size: 10", passwd);
        Assert.Contains("mtime: 0x60406abf:1d6f32f0", passwd); // 2021-03-04 05:06:07.1234567 (ns << 2)
        Assert.Contains("atime: 0x60406abf:1d6f32f0", passwd);
        Assert.Contains("ctime: 0x60406abf:1d6f32f0", passwd);

        Assert.Contains("Mode:  01777", await image.StatAsync("/tmp"));

        // Directories: 2 + subdirectories; the root has usr, tmp and lost+found.
        Assert.Contains("Links: 5", await image.StatAsync("/usr"));
        Assert.Contains("Links: 5", await image.StatAsync("/"));
        Assert.Contains("Links: 2", await image.StatAsync("/usr/bin"));
        Assert.Contains("Mode:  0700", await image.StatAsync("/lost+found"));
        Assert.Contains("Inode: 2 ", await image.StatAsync("/"));
    }

    [Fact]
    public async Task ParentsNeverAddedAreRootOwned0755AndLaterAddsReplaceTheirMetadata()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddText("/a/b/c/file", "x");
            writer.AddDirectory("/a/b", new Ext4Metadata(0x1C0, 5, 6, Meta.Time));
        });

        await image.AssertCleanAsync();
        var implicitDirectory = await image.StatAsync("/a/b/c");
        Assert.Contains("Mode:  0755", implicitDirectory);
        Assert.Matches(@"User:\s+0\s+Group:\s+0", implicitDirectory);
        var explicitDirectory = await image.StatAsync("/a/b");
        Assert.Contains("Mode:  0700", explicitDirectory);
        Assert.Matches(@"User:\s+5\s+Group:\s+6", explicitDirectory);
        Assert.Equal("x"u8.ToArray(), await image.DumpAsync("/a/b/c/file"));
    }

    [Fact]
    public async Task SymlinksAreFastUpTo59BytesAndUseABlockBeyond()
    {
        var longTarget = "/usr/lib/" + new string('t', 200);
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddSymlink("/bin/sh", "busybox", Meta.File(0x1FF));
            writer.AddSymlink("/edge", new string('e', 59), Meta.File(0x1FF));
            writer.AddSymlink("/long", longTarget, Meta.File(0x1FF, uid: 7));
        });

        await image.AssertCleanAsync();
        var fast = await image.StatAsync("/bin/sh");
        Assert.Contains("Type: symlink    Mode:  0777   Flags: 0x0", fast);
        Assert.Contains("Fast link dest: \"busybox\"", fast);
        Assert.Contains($"Fast link dest: \"{new string('e', 59)}\"", await image.StatAsync("/edge"));
        var slow = await image.StatAsync("/long");
        Assert.Contains("Blockcount: 8", slow);
        Assert.Contains($"Size: {longTarget.Length}", slow);
        Assert.Equal(longTarget, System.Text.Encoding.UTF8.GetString(await image.DumpAsync("/long")));
    }

    [Fact]
    public async Task DevicesFifosAndSocketsKeepTheirNumbers()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddDevice("/dev/null", Ext4DeviceKind.Character, 1, 3, Meta.File(0x1B6));
            writer.AddDevice("/dev/nvme0n1", Ext4DeviceKind.Block, 259, 300, Meta.File(0x1B0, gid: 6));
            writer.AddFifo("/run/initctl", Meta.File(0x180));
            writer.AddSocket("/run/sock", Meta.File(0x1FF));
        });

        await image.AssertCleanAsync();
        var devices = await image.DebugfsAsync("ls -l /dev");
        Assert.Matches(@"20666 \(3\)\s+0\s+0\s+0 .* null", devices);
        Assert.Matches(@"60660 \(4\)\s+0\s+6\s+0 .* nvme0n1", devices);
        Assert.Contains("Device major/minor number: 01:03", await image.StatAsync("/dev/null"));
        Assert.Contains("(New-style) Device major/minor number: 259:300", await image.StatAsync("/dev/nvme0n1"));
        Assert.Contains("Type: FIFO", await image.StatAsync("/run/initctl"));
        Assert.Contains("Type: socket", await image.StatAsync("/run/sock"));
    }

    [Fact]
    public async Task HardLinksShareTheInodeAndCountTheirNames()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddText("/bin/busybox", "multi-call binary", Meta.File(0x1ED));
            writer.AddHardLink("/bin/ls", "/bin/busybox");
            writer.AddHardLink("/sbin/init", "/bin/busybox");
            writer.AddDevice("/dev/zero", Ext4DeviceKind.Character, 1, 5, Meta.File());
            writer.AddHardLink("/dev/zero2", "/dev/zero");
        });

        await image.AssertCleanAsync();
        var busybox = await image.StatAsync("/bin/busybox");
        Assert.Contains("Links: 3", busybox);
        var inode = System.Text.RegularExpressions.Regex.Match(busybox, @"Inode: (\d+)").Groups[1].Value;
        Assert.Contains($"Inode: {inode} ", await image.StatAsync("/sbin/init"));
        Assert.Equal("multi-call binary"u8.ToArray(), await image.DumpAsync("/bin/ls"));
        Assert.Contains("Links: 2", await image.StatAsync("/dev/zero2"));
    }
}
