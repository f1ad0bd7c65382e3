using System.Formats.Tar;
using Vic.ImageStore.Layers;
using Vic.TestSupport;

namespace Vic.ImageStore.Tests;

/// <summary>Layers found unsound when the store opens are set aside and named; the rest serve.</summary>
public sealed class LayerQuarantineTests : IDisposable
{
    private const long Capacity = 64L << 20;
    private readonly TempDirectory _home = new("layer-quarantine");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task ACutShortDiskAGarbledRecordAndALostBlobAreSetAsideAndTheRestServe()
    {
        var root = _home.Combine("store");
        var store = new LayerStore(root, Capacity);
        var sound = await ImportAsync(store, "sound", 4096);
        var cut = await ImportAsync(store, "cut", 2 << 20);
        var garbled = await ImportAsync(store, "garbled", 4096);
        var lost = await ImportAsync(store, "lost", 4096);
        var hollow = await ImportAsync(store, "hollow", 4096);

        // A disk that stopped half way, a record that is not JSON, a blob gone.
        await using (var disk = File.OpenWrite(cut.DiskPath))
        {
            disk.SetLength(disk.Length / 2);
        }

        await File.WriteAllTextAsync(Path.Combine(Path.GetDirectoryName(garbled.DiskPath)!, "layer.json"), "{\"DiffId\": tru");
        File.Delete(lost.BlobPath);
        await File.WriteAllTextAsync(Path.Combine(Path.GetDirectoryName(hollow.DiskPath)!, "layer.json"), "{}");

        var reopened = new LayerStore(root, Capacity);

        Assert.Equal(sound.DiffId, Assert.Single(reopened.List()).DiffId);
        Assert.NotNull(reopened.Find(sound.DiffId));
        Assert.Null(reopened.Find(cut.DiffId));
        var reasons = reopened.Quarantined.ToDictionary(q => q.DiffId, q => q.Reason);
        Assert.Contains("cut short", reasons[cut.DiffId], StringComparison.Ordinal);
        Assert.Contains("record could not be read", reasons[garbled.DiffId], StringComparison.Ordinal);
        Assert.Contains("missing", reasons[lost.DiffId], StringComparison.Ordinal);
        Assert.Contains("names another layer", reasons[hollow.DiffId], StringComparison.Ordinal);
        Assert.All(reopened.Quarantined, q => Assert.True(Directory.Exists(q.SetAsideTo), q.SetAsideTo));

        // Imported again, a set-aside layer serves as before; the next open finds nothing amiss.
        var again = await ImportAsync(reopened, "cut", 2 << 20);
        Assert.Equal(cut.DiffId, again.DiffId);
        Assert.Empty(new LayerStore(root, Capacity).Quarantined);
    }

    /// <summary>A layer of one file of <paramref name="bytes"/> pseudo-random bytes, seeded by its name.</summary>
    private static async Task<LayerInfo> ImportAsync(LayerStore store, string name, int bytes)
    {
        var content = new byte[bytes];
        new Random(name.GetHashCode(StringComparison.Ordinal)).NextBytes(content);
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, leaveOpen: true))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content), ModificationTime = DateTimeOffset.UnixEpoch });
        }

        tar.Position = 0;
        return await store.ImportAsync(tar, false, null, (path, capacity) => new Ext4VmdkLayerDisk(path, capacity), CancellationToken.None);
    }
}
