using System.Buffers.Binary;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Store;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

public sealed class VchEngineTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TheVchIdAndItsContainersSurviveARestart()
    {
        string id;
        string containerId;
        using (var engine = new VchEngine(Config(), _time))
        {
            id = engine.Id;
            containerId = engine.Containers.Create(new NewContainer("web", "nginx")).Id;
        }

        using var restarted = new VchEngine(Config(), _time);

        Assert.True(Guid.TryParse(id, out _), id);
        Assert.Equal(id, restarted.Id);
        Assert.Equal(containerId, restarted.Containers.Resolve("web").Id);
        Assert.Equal(_dir.File("data/vch.db"), restarted.Store.Path);
    }

    [Fact]
    public async Task ALayerDiskThatCannotBeReadIsSetAsideAndReportedAndItsImageStaysListed()
    {
        string diffId;
        string disk;
        using (var engine = new VchEngine(Config(), _time))
        {
            using var emptyTar = new MemoryStream(new byte[1024]);
            var image = await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
            diffId = Assert.Single(image.DiffIds);
            disk = engine.Images.Layers.Find(diffId)!.DiskPath;
        }

        await File.WriteAllTextAsync(disk, "this is no longer a disk");

        using var restarted = new VchEngine(Config(), _time);
        var summary = await restarted.SummarizeAsync(CancellationToken.None);

        Assert.Null(restarted.Images.Layers.Find(diffId));
        Assert.Contains(restarted.Images.Catalog.List(), i => i.RepoTags.Contains("empty:latest"));
        Assert.Contains(summary.Warnings, w => w.Contains($"layer {diffId} of the image store could not be read", StringComparison.Ordinal) && w.Contains("pulled again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ARecordThatCannotBeReadIsSetAsideReportedAndTheRestServes()
    {
        string broken;
        string sound;
        using (var engine = new VchEngine(Config(), _time))
        {
            broken = engine.Containers.Create(new NewContainer("broken", "nginx")).Id;
            sound = engine.Containers.Create(new NewContainer("sound", "nginx")).Id;
            engine.Volumes.Create("kept", null, null, null);
        }

        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.File("data/vch.db")};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "UPDATE records SET body = '{\"id\": 5, \"status\": ' WHERE id = $id;";
            command.Parameters.AddWithValue("$id", broken);
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        using var restarted = new VchEngine(Config(), _time);
        var summary = await restarted.SummarizeAsync(CancellationToken.None);
        var quarantined = Assert.Single(restarted.Store.Quarantined());

        Assert.Equal([sound], restarted.Containers.List().Select(c => c.Id));
        Assert.Equal("kept", Assert.Single(restarted.Volumes.List()).Name);
        Assert.Equal((RecordKind.Container, broken, "{\"id\": 5, \"status\": "), (quarantined.Kind, quarantined.Id, quarantined.Body));
        Assert.Contains($"container {broken} could not be read", Assert.Single(summary.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStoreFileThatIsNotADatabaseIsMovedAsideAndAFreshOneServes()
    {
        using (var engine = new VchEngine(Config(), _time))
        {
            engine.Containers.Create(new NewContainer("lost", "nginx"));
        }

        var garbage = System.Security.Cryptography.RandomNumberGenerator.GetBytes(8192);
        File.WriteAllBytes(_dir.File("data/vch.db"), garbage);

        using var restarted = new VchEngine(Config(), _time);
        var summary = await restarted.SummarizeAsync(CancellationToken.None);
        restarted.Containers.Create(new NewContainer("new", "nginx"));

        Assert.NotNull(restarted.Store.SetAsideFile);
        Assert.Equal(garbage, File.ReadAllBytes(restarted.Store.SetAsideFile));
        Assert.Contains("could not be read and was moved to", summary.Warnings[0], StringComparison.Ordinal);
        Assert.Equal("ok", restarted.Store.CheckIntegrity());
        Assert.Equal(["new"], restarted.Containers.List().Select(c => c.Name));
    }

    [Fact]
    public async Task TheSummaryCountsContainersAndImagesAndNamesTheKernel()
    {
        var kernel = _dir.File("bzImage");
        var image = new byte[0x1000];
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x20E), 0x100);
        "6.6.31-vic #1 SMP\0"u8.CopyTo(image.AsSpan(0x300));
        await File.WriteAllBytesAsync(kernel, image);

        using var engine = new VchEngine(Config(kernel), _time);
        engine.Containers.Create(new NewContainer("first", "busybox"));
        engine.Containers.Create(new NewContainer("second", "busybox"));
        engine.Containers.Transition("second", (who, s) => s.Start(who, _time.GetUtcNow()), "start");
        engine.Images.Catalog.Add(
            new Vic.ImageStore.Images.ImageRecord { Id = "sha256:" + new string('1', 64), DiffIds = [], Size = 0, Created = _time.GetUtcNow(), Stored = _time.GetUtcNow() },
            "{}"u8.ToArray(),
            "busybox:latest",
            null);

        var summary = await engine.SummarizeAsync(CancellationToken.None);

        Assert.Equal("6.6.31-vic", engine.KernelRelease);
        Assert.Equal("6.6.31-vic", summary.ContainerVmKernel);
        Assert.Equal("test-vch", summary.Name);
        Assert.Equal("none", summary.Backend);
        Assert.Equal(1, summary.Images);
        Assert.Equal(new VmResources(4, 8L << 30), summary.PoolLimit);
        Assert.Equal(new Dictionary<ContainerState, int> { [ContainerState.Created] = 1, [ContainerState.Running] = 1 }, summary.ContainersByState);
    }

    [Fact]
    public void AMissingKernelLeavesTheReleaseEmpty()
    {
        using var engine = new VchEngine(Config(_dir.File("no-such-kernel")), _time);

        Assert.Equal("", engine.KernelRelease);
    }

    private VchConfig Config(string? kernel = null) =>
        new("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), kernel, RegistryConfig.Default);
}
