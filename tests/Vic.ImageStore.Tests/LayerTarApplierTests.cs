using System.Formats.Tar;
using Vic.ImageStore.Layers;
using Vic.TestSupport;

namespace Vic.ImageStore.Tests;

public sealed class LayerTarApplierTests
{
    [Fact]
    public async Task EntriesBecomeFilesystemCallsWithOverlayWhiteouts()
    {
        var calls = await ApplyAsync(tar =>
        {
            tar.Directory("etc/", 0b111_101_101);
            tar.File("./etc/passwd", "root", 0b110_100_100, uid: 0, gid: 42);
            tar.Symlink("etc/link", "/etc/passwd");
            tar.HardLink("etc/hard", "etc/passwd");
            tar.File("etc/.wh.shadow", "");
            tar.File("var/.wh..wh..opq", "");
            tar.File("var/.wh..wh.plnk", "");
            tar.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null") { DeviceMajor = 1, DeviceMinor = 3 });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.BlockDevice, "dev/sda") { DeviceMajor = 8, DeviceMinor = 0 });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "run/pipe"));
            tar.FileWithXattrs("bin/ping", "elf", new Dictionary<string, string> { ["security.capability"] = "cap", ["user.note"] = "hi" });
        });

        Assert.Equal(
        [
            "dir /etc 755",
            "file /etc/passwd 644 0:42 root",
            "symlink /etc/link -> /etc/passwd",
            "hardlink /etc/hard => /etc/passwd",
            "whiteout /etc/shadow",
            "opaque /var",
            "chardev /dev/null 1:3",
            "blockdev /dev/sda 8:0",
            "fifo /run/pipe",
            "file /bin/ping 755 0:0 elf security.capability=cap user.note=hi",
        ], calls);
    }

    [Theory]
    [InlineData("../escape", "climbs out of the root")]
    [InlineData("a/../../escape", "climbs out of the root")]
    [InlineData("/etc/passwd", "has an absolute path")]
    public async Task EntriesOutsideTheRootAreRefused(string name, string reason)
    {
        var error = await Assert.ThrowsAsync<LayerRefusedException>(() => ApplyAsync(tar => tar.File(name, "x")));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHardLinkToSomethingOutsideTheLayerIsRefused()
    {
        var error = await Assert.ThrowsAsync<LayerRefusedException>(() => ApplyAsync(tar => tar.HardLink("stolen", "../../etc/shadow")));

        Assert.Contains("climbs out of the root", error.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<LayerRefusedException>(() => ApplyAsync(tar => tar.HardLink("stolen", "etc/shadow")));
        Assert.Equal("tar entry \"stolen\" is a hard link to \"etc/shadow\", which is not a file of this layer", missing.Message);
    }

    [Fact]
    public async Task WritingThroughASymlinkOfTheLayerIsRefused()
    {
        var error = await Assert.ThrowsAsync<LayerRefusedException>(() => ApplyAsync(tar =>
        {
            tar.Symlink("etc", "/host/etc");
            tar.File("etc/passwd", "owned");
        }));

        Assert.Equal("tar entry \"etc/passwd\" goes through the symbolic link \"/etc\" of this layer", error.Message);
    }

    [Fact]
    public async Task AnEntryLargerThanTheLayerDiskIsRefusedBeforeItsContentIsRead()
    {
        var error = await Assert.ThrowsAsync<LayerRefusedException>(() => ApplyAsync(tar => tar.SparseFile("huge", 1L << 20, [1]), maxEntryBytes: 1L << 20));

        Assert.StartsWith("tar entry \"huge\" claims 1048577 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATruncatedOrGarbageTarIsAClearError()
    {
        using var garbage = new MemoryStream([.. Enumerable.Range(0, 1024).Select(i => (byte)(i * 7))]);
        var applier = new LayerTarApplier(new RecordingFilesystem(), 1L << 30);

        var error = await Assert.ThrowsAsync<LayerRefusedException>(() => applier.ApplyAsync(garbage, CancellationToken.None));

        Assert.StartsWith("invalid tar header after entry 0", error.Message, StringComparison.Ordinal);
    }

    private static async Task<List<string>> ApplyAsync(Action<TarWriter> write, long maxEntryBytes = 1L << 30)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(writer);
        }

        tar.Position = 0;
        var fs = new RecordingFilesystem();
        await new LayerTarApplier(fs, maxEntryBytes).ApplyAsync(tar, CancellationToken.None);
        return fs.Calls;
    }
}
