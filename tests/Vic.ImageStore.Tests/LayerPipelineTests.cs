using System.Formats.Tar;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Disks.Ext4;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.ImageStore.Pull;
using Vic.Registry;
using Vic.TestSupport;

namespace Vic.ImageStore.Tests;

/// <summary>
/// A multi-layer image built here, pushed with skopeo to a real docker-registry, pulled through the
/// whole pipeline (gzip, tar, our ext4, our VMDK), and every disk checked with e2fsck, qemu-img and
/// debugfs.
/// </summary>
public sealed class LayerPipelineTests : IAsyncLifetime, IDisposable
{
    private const long Capacity = 8L << 30;
    private static readonly Guid FixedUuid = new("6f6b6a8e-8f6e-4c3b-9a55-5a7d3c2b1a00");

    // A VFS v2 capability granting cap_net_raw (bit 13): magic, permitted, inheritable (all bytes < 0x80).
    private static readonly string NetRawCapability = Encoding.Latin1.GetString([0x00, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    private readonly TempDirectory _home = new("pipeline");
    private LocalRegistry _registry = null!;

    public async Task InitializeAsync() => _registry = await LocalRegistry.StartAsync();

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task EveryLayerOfARichImageBecomesACleanExt4InAValidVmdk()
    {
        var layout = new OciLayoutBuilder(_home.Combine("oci"));
        var layers = new[] { layout.AddLayer(WriteBase), layout.AddLayer(WriteBulk), layout.AddLayer(WriteChanges) };
        layout.AddImage(layers, "rich", labels: new Dictionary<string, string> { ["tier"] = "test" });
        await _registry.PushOciLayoutAsync(layout.Directory, "rich", "rich");
        var store = new LayerStore(_home.Combine("store"), Capacity);
        var catalog = new ImageCatalog(_home.Combine("store"));
        using var registry = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance);
        var puller = new ImagePuller(registry, store, catalog, (path, capacity) => new Ext4VmdkLayerDisk(path, capacity), NullLogger.Instance);
        var progress = new List<PullProgress>();

        var image = await puller.PullAsync(ImageReference.Parse($"{_registry.Host}/rich:rich"), null, new SyncProgress(progress), CancellationToken.None);

        Assert.Equal(layers.Select(l => l.DiffId), image.DiffIds);
        Assert.Equal($"{_registry.Host}/rich:rich", Assert.Single(image.RepoTags));
        Assert.Equal("test", image.Labels["tier"]);
        Assert.Contains(progress, p => p.Status == "Pull complete");
        foreach (var diffId in image.DiffIds)
        {
            var disk = store.Find(diffId)!.DiskPath;
            await AssertRunsAsync("qemu-img", "check", "-f", "vmdk", disk);
            var raw = disk + ".raw";
            await AssertRunsAsync("qemu-img", "convert", "-f", "vmdk", "-O", "raw", disk, raw);
            await AssertRunsAsync("e2fsck", "-fn", raw);
        }

        var baseRaw = store.Find(layers[0].DiffId!)!.DiskPath + ".raw";
        var bulkRaw = store.Find(layers[1].DiffId!)!.DiskPath + ".raw";
        var changesRaw = store.Find(layers[2].DiffId!)!.DiskPath + ".raw";

        var passwd = await DebugfsAsync(baseRaw, "stat /etc/passwd");
        Assert.Contains("Mode:  0640", passwd, StringComparison.Ordinal);
        Assert.Contains("User:  1000   Group:    42", passwd, StringComparison.Ordinal);
        Assert.Contains("Links: 2", passwd, StringComparison.Ordinal);
        Assert.Contains("Fast link dest: \"/etc/passwd\"", await DebugfsAsync(baseRaw, "stat /etc/link"), StringComparison.Ordinal);
        var capabilities = await DebugfsAsync(baseRaw, "ea_list /bin/ping");
        Assert.Contains("security.capability (20)", capabilities, StringComparison.Ordinal);
        Assert.Contains("user.origin (4) = \"test\"", capabilities, StringComparison.Ordinal);
        Assert.Contains("Mode:  01777", await DebugfsAsync(baseRaw, "stat /tmp"), StringComparison.Ordinal);

        var many = await DebugfsAsync(bulkRaw, "ls /many");
        Assert.Contains("f9999", many, StringComparison.Ordinal);
        Assert.Equal(10_002, many.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Count(t => t.StartsWith('f') || t is "." or ".."));
        var sparse = await DebugfsAsync(bulkRaw, "stat /big.img");
        Assert.Contains($"Size: {(5L << 30) + 5}", sparse, StringComparison.Ordinal);
        Assert.True(new FileInfo(store.Find(layers[1].DiffId!)!.DiskPath).Length < 64L << 20, "the 5 GiB sparse file must stay sparse in the VMDK");
        await AssertRunsAsync("debugfs", "-R", $"dump /big.img {_home.Combine("big.out")}", bulkRaw);
        await using (var big = File.OpenRead(_home.Combine("big.out")))
        {
            big.Seek(-5, SeekOrigin.End);
            var tail = new byte[5];
            big.ReadExactly(tail);
            Assert.Equal("tail!", Encoding.ASCII.GetString(tail));
        }

        Assert.Contains("Type: character special", await DebugfsAsync(changesRaw, "stat /etc/shadow"), StringComparison.Ordinal);
        Assert.Contains("Device major/minor number: 00:00", await DebugfsAsync(changesRaw, "stat /etc/shadow"), StringComparison.Ordinal);
        Assert.Contains("trusted.overlay.opaque (1) = \"y\"", await DebugfsAsync(changesRaw, "ea_list /var/cache"), StringComparison.Ordinal);
        Assert.Contains("Device major/minor number: 01:03", await DebugfsAsync(changesRaw, "stat /dev/null"), StringComparison.Ordinal);
        Assert.Contains("Type: FIFO", await DebugfsAsync(changesRaw, "stat /run/pipe"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The rich image's layers, each in the VMDK exactly as the same writer lays it out raw. (The
    /// changes layer's whiteouts and opaque directories are the layer disk's own translation, which a
    /// raw copy would only repeat; e2fsck and debugfs check that layer above.)
    /// </summary>
    [Theory]
    [InlineData("base")]
    [InlineData("bulk")]
    public async Task TheVmdkHoldsExactlyTheExt4ThatWouldBeWrittenRaw(string layer)
    {
        Action<TarWriter> write = layer == "base" ? WriteBase : WriteBulk;
        const long Capacity = 8L << 30; // the bulk layer's 5 GiB sparse file needs room
        var tarPath = _home.Combine($"{layer}.tar");
        await using (var tar = File.Create(tarPath))
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(writer);
        }

        var vmdk = _home.Combine($"{layer}.vmdk");
        var raw = _home.Combine($"{layer}.raw");
        await using (var tar = File.OpenRead(tarPath))
        using (var disk = new Ext4VmdkLayerDisk(vmdk, Capacity, FixedUuid))
        {
            await new LayerTarApplier(disk.Filesystem, Capacity).ApplyAsync(tar, CancellationToken.None);
            disk.Complete();
        }

        await using (var tar = File.OpenRead(tarPath))
        await using (var file = File.Create(raw))
        using (var ext4 = new Ext4Writer(file, new Ext4Options(Capacity, Uuid: FixedUuid, Timestamp: DateTimeOffset.UnixEpoch)))
        {
            await new LayerTarApplier(new Ext4Only(ext4), Capacity).ApplyAsync(tar, CancellationToken.None);
            ext4.Complete();
        }

        await AssertRunsAsync("e2fsck", "-fn", raw);
        var compare = await Command.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "vmdk", raw, vmdk], timeout: TimeSpan.FromMinutes(3));
        Assert.True(compare.ExitCode == 0, compare.ToString());
        Assert.Contains("Images are identical.", compare.StandardOutput, StringComparison.Ordinal);
    }

    private static void WriteBase(TarWriter tar)
    {
        tar.Directory("etc/");
        tar.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0b110_100_000, uid: 1000, gid: 42);
        tar.Symlink("etc/link", "/etc/passwd");
        tar.HardLink("etc/passwd-hard", "etc/passwd");
        tar.File("etc/shadow", "secret");
        tar.Directory("var/");
        tar.Directory("var/cache/");
        tar.File("var/cache/old", "stale");
        tar.Directory("tmp/", 0b1_111_111_111);
        tar.FileWithXattrs("bin/ping", "\u007fELF", new Dictionary<string, string> { ["security.capability"] = NetRawCapability, ["user.origin"] = "test" });
    }

    private static void WriteBulk(TarWriter tar)
    {
        tar.Directory("many/");
        for (var i = 0; i < 10_000; i++)
        {
            tar.File($"many/f{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        tar.SparseFile("big.img", 5L << 30, Encoding.ASCII.GetBytes("tail!"));
    }

    private static void WriteChanges(TarWriter tar)
    {
        tar.File("etc/.wh.shadow", "");
        tar.Directory("var/cache/");
        tar.File("var/cache/.wh..wh..opq", "");
        tar.File("var/cache/new", "fresh");
        tar.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null") { DeviceMajor = 1, DeviceMinor = 3, Mode = (UnixFileMode)0b110_110_110 });
        tar.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "run/pipe") { Mode = (UnixFileMode)0b110_100_100 });
    }

    private static async Task AssertRunsAsync(string program, params string[] arguments)
    {
        var result = await Command.RunAsync(program, arguments, timeout: TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {result}");
    }

    private static async Task<string> DebugfsAsync(string image, string request)
    {
        var result = await Command.RunAsync("debugfs", ["-R", request, image]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StandardOutput;
    }

    private sealed class SyncProgress(List<PullProgress> lines) : IProgress<PullProgress>
    {
        public void Report(PullProgress value)
        {
            lock (lines)
            {
                lines.Add(value);
            }
        }
    }

    /// <summary>The same translation as the layer disk, onto a raw ext4 file.</summary>
    private sealed class Ext4Only(Ext4Writer ext4) : ILayerFilesystem
    {
        public void AddDirectory(string path, EntryMetadata metadata) => ext4.AddDirectory(path, Convert(metadata));

        public void AddFile(string path, EntryMetadata metadata, Stream content, long length) => ext4.AddFile(path, Convert(metadata), content, length);

        public void AddSymlink(string path, string target, EntryMetadata metadata) => ext4.AddSymlink(path, target, Convert(metadata));

        public void AddHardLink(string path, string existingPath) => ext4.AddHardLink(path, existingPath);

        public void AddCharacterDevice(string path, int major, int minor, EntryMetadata metadata) => ext4.AddDevice(path, Ext4DeviceKind.Character, major, minor, Convert(metadata));

        public void AddBlockDevice(string path, int major, int minor, EntryMetadata metadata) => ext4.AddDevice(path, Ext4DeviceKind.Block, major, minor, Convert(metadata));

        public void AddFifo(string path, EntryMetadata metadata) => ext4.AddFifo(path, Convert(metadata));

        public void AddWhiteout(string path) => throw new NotSupportedException("the base layer has no whiteouts");

        public void MarkOpaque(string directory) => throw new NotSupportedException("the base layer has no opaque directories");

        private static Ext4Metadata Convert(EntryMetadata m) => new(m.Mode, m.Uid, m.Gid, m.ModifiedAt, m.Xattrs.Count == 0 ? null : m.Xattrs);
    }
}
