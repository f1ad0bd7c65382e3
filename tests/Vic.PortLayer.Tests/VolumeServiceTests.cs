using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;
using Vic.PortLayer.Volumes;

namespace Vic.PortLayer.Tests;

public sealed class VolumeServiceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("512", 512L << 20)]
    [InlineData("512MB", 512L << 20)]
    [InlineData("2GB", 2L << 30)]
    [InlineData("2g", 2L << 30)]
    [InlineData("1T", 1L << 40)]
    [InlineData("64 kb", 64L << 10)]
    public void CapacityReadsVicsUnits(string text, long bytes) => Assert.Equal(bytes, VolumeService.ParseCapacity(text));

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("0")]
    [InlineData("-5GB")]
    public void ABadCapacityIsRefused(string text) =>
        Assert.Equal(ErrorKind.InvalidParameter, Assert.Throws<PortLayerException>(() => VolumeService.ParseCapacity(text)).Kind);

    [Fact]
    public void ARemovalCutShortIsUndoneIfItsRecordStayedAndFinishedIfItWent()
    {
        using (var engine = Engine())
        {
            engine.Volumes.Create("stayed", null, null, null);
            engine.Volumes.Create("went", null, null, null);
            engine.Volumes.Remove("went", force: false);
        }

        // What a removal leaves when the endpoint dies between moving the data aside and dropping
        // the record: the data aside, the record still there (or, the record gone, only the data).
        var volumes = _dir.File("data/volumes");
        Directory.CreateDirectory(Path.Combine(volumes, ".removing"));
        Directory.Move(Path.Combine(volumes, "stayed"), Path.Combine(volumes, ".removing", "stayed"));
        Directory.CreateDirectory(Path.Combine(volumes, ".removing", "went"));

        using var restarted = Engine();

        Assert.Equal("stayed", Assert.Single(restarted.Volumes.List()).Name);
        Assert.True(File.Exists(restarted.Volumes.DiskPath("stayed")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(volumes, ".removing")));
        restarted.Volumes.Remove("stayed", force: false);
        Assert.False(Directory.Exists(Path.Combine(volumes, "stayed")));
        Assert.Empty(restarted.Volumes.List());
    }

    [Fact]
    public void CreateIsIdempotentMakesASparseDiskAndSurvivesARestart()
    {
        using (var engine = Engine())
        {
            var first = engine.Volumes.Create("data", null, new Dictionary<string, string> { ["Capacity"] = "2GB" }, null);
            var again = engine.Volumes.Create("data", null, null, null);

            Assert.Equal((first.Name, first.CreatedAt, first.CapacityBytes), (again.Name, again.CreatedAt, again.CapacityBytes));
            Assert.Equal(2L << 30, first.CapacityBytes);
            Assert.True(new FileInfo(engine.Volumes.DiskPath("data")).Length < 16L << 20, "the volume disk is sparse");
        }

        using var restarted = Engine();
        Assert.Equal("data", Assert.Single(restarted.Volumes.List()).Name);
    }

    [Fact]
    public void ANameLongerThanAFileNameMayBeIsRefusedAsBadInputAndTheLongestAllowedServes()
    {
        using var engine = Engine();

        var refused = Assert.Throws<PortLayerException>(() => engine.Volumes.Create(new string('a', 256), null, null, null));
        var longest = engine.Volumes.Create(new string('b', 255), null, null, null);

        Assert.Equal(ErrorKind.InvalidParameter, refused.Kind);
        Assert.Contains("at most 255 characters", refused.Message, StringComparison.Ordinal);
        Assert.Equal(255, longest.Name.Length);
        Assert.DoesNotContain(engine.Volumes.List(), v => v.Name.StartsWith('a'));
    }

    [Fact]
    public void AVolumeAContainerMountsCannotBeRemovedUntilTheContainerIsGone()
    {
        using var engine = Engine();
        engine.Volumes.Create("data", null, null, null);
        var container = engine.Containers.Create(new NewContainer("user", "busybox", Config: new ContainerConfig { Mounts = [new VolumeMount("data", "/data")] }));

        var refused = Assert.Throws<PortLayerException>(() => engine.Volumes.Remove("data", force: false));
        engine.Containers.Transition(container.Id, (who, s) => s.BeginRemoval(who, force: true), null);
        engine.Containers.Forget(container.Id);
        engine.Volumes.Remove("data", force: false);

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Equal($"remove data: volume is in use - [{container.Id}]", refused.Message);
        Assert.Empty(engine.Volumes.List());
        Assert.False(Directory.Exists(engine.Volumes.Mountpoint("data")));
    }

    [Fact]
    public void PruneTakesUnusedAnonymousVolumesAndNamedOnesOnlyWithAll()
    {
        using var engine = Engine();
        var anonymous = engine.Volumes.Create(null, null, null, null, anonymous: true);
        engine.Volumes.Create("named", null, null, null);

        var (first, _) = engine.Volumes.Prune(all: false, _ => true);
        var (second, _) = engine.Volumes.Prune(all: true, _ => true);

        Assert.Equal([anonymous.Name], first);
        Assert.Equal(["named"], second);
    }

    private VchEngine Engine() => new(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
}
