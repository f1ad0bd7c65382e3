namespace Vic.Disks.Ext4.Tests;

/// <summary>Extended attributes and the overlayfs conventions built on them.</summary>
public sealed class XattrTests
{
    /// <summary>VFS_CAP_REVISION_2 with cap_net_bind_service (bit 10) permitted and effective.</summary>
    private static readonly byte[] NetBindService = Convert.FromHexString("01000002" + "00040000" + "00000000" + "00000000" + "00000000");

    [Fact]
    public async Task WhiteoutsAreCharacterDevicesZeroZeroAndOpaqueDirectoriesCarryTheTrustedXattr()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            writer.AddDevice("/etc/.wh-removed", Ext4DeviceKind.Character, 0, 0, Meta.File(0));
            writer.AddDirectory("/var/cache", Meta.Directory(xattrs: new() { ["trusted.overlay.opaque"] = "y"u8.ToArray() }));
        });

        await image.AssertCleanAsync();
        var whiteout = await image.StatAsync("/etc/.wh-removed");
        Assert.Contains("Type: character special", whiteout);
        Assert.Contains("Device major/minor number: 00:00", whiteout);
        Assert.Contains("trusted.overlay.opaque (1) = \"y\"", await image.DebugfsAsync("ea_list /var/cache"));
    }

    [Fact]
    public async Task CapabilitiesUserAndSecurityXattrsAreStoredUnderTheirNamespaces()
    {
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            using var content = Meta.Text("ping");
            writer.AddFile("/bin/ping", Meta.File(0x1ED, xattrs: new() { ["security.capability"] = NetBindService }), content, content.Length);
            writer.AddSymlink("/link", "bin/ping", Meta.File(0x1FF, xattrs: new() { ["user.comment"] = "hi"u8.ToArray() }));
        });

        await image.AssertCleanAsync();
        var ping = await image.DebugfsAsync("ea_list /bin/ping");
        Assert.Contains("security.capability (20) = 01 00 00 02 00 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00", ping);
        Assert.Contains("user.comment (2) = \"hi\"", await image.DebugfsAsync("ea_list /link"));

        // In the inode: no xattr block.
        Assert.Contains("File ACL: 0", await image.StatAsync("/bin/ping"));
    }

    [Fact]
    public async Task XattrsTooBigForTheInodeSpillToABlockOfTheirOwn()
    {
        var big = Enumerable.Range(0, 1500).Select(i => (byte)('a' + (i % 26))).ToArray();
        using var image = Ext4Image.Build(64 << 20, writer =>
        {
            var xattrs = new Dictionary<string, byte[]>
            {
                ["user.big"] = big,
                ["security.capability"] = NetBindService,
                ["trusted.overlay.opaque"] = "y"u8.ToArray(),
                ["user.empty"] = [],
            };
            writer.AddDirectory("/spilled", Meta.Directory(xattrs: xattrs));
            writer.AddText("/spilled/file", "content", Meta.File(xattrs: xattrs));
        });

        await image.AssertCleanAsync();
        var stat = await image.StatAsync("/spilled/file");
        Assert.DoesNotContain("File ACL: 0", stat);
        Assert.Contains("Blockcount: 16", stat); // one data block and the xattr block
        var list = await image.DebugfsAsync("ea_list /spilled");
        Assert.Contains("user.big (1500)", list);
        Assert.Contains("user.empty (0)", list);
        Assert.Contains("trusted.overlay.opaque (1) = \"y\"", list);
        Assert.Contains("security.capability (20)", list);

        var value = image.Scratch("big-value");
        await image.DebugfsAsync($"ea_get -f {value} /spilled/file user.big");
        Assert.Equal(big, await File.ReadAllBytesAsync(value));
    }

    [Fact]
    public async Task PosixAclsAreStoredInExt4sOwnFormat()
    {
        // version 2; USER_OBJ rwx; USER 1000 r-x; GROUP_OBJ r-x; MASK r-x; OTHER ---.
        var acl = Convert.FromHexString("02000000" + "01000700ffffffff" + "02000500e8030000" + "04000500ffffffff" + "10000500ffffffff" + "20000000ffffffff");
        using var image = Ext4Image.Build(64 << 20, writer =>
            writer.AddDirectory("/shared", Meta.Directory(xattrs: new() { ["system.posix_acl_access"] = acl })));

        await image.AssertCleanAsync();

        // debugfs turns the disk form back into the xattr form, with id 0 where the entry has none.
        var value = image.Scratch("acl");
        await image.DebugfsAsync($"ea_get -f {value} /shared system.posix_acl_access");
        var expected = Convert.FromHexString("02000000" + "0100070000000000" + "02000500e8030000" + "0400050000000000" + "1000050000000000" + "2000000000000000");
        Assert.Equal(expected, await File.ReadAllBytesAsync(value));
    }

    [Fact]
    public void UnsupportedNamespacesAreRefusedBeforeAnythingIsWritten()
    {
        using var target = new MemoryStream();
        using var writer = new Ext4Writer(target, new Ext4Options(64 << 20));

        var error = Assert.Throws<ArgumentException>(() => writer.AddText("/f", "x", Meta.File(xattrs: new() { ["system.nfs4_acl"] = [1] })));
        Assert.Contains("system.nfs4_acl", error.Message);
        Assert.Equal(0, target.Length);
    }
}
