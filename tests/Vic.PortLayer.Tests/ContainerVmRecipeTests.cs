using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>What a ContainerVM is made of and what its tether is told, from a record in a real engine's stores; no hypervisor.</summary>
public sealed class ContainerVmRecipeTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private readonly VchEngine _engine;
    private readonly ContainerRuntimeTable _runtime;
    private readonly ContainerVmRecipe _recipe;

    public ContainerVmRecipeTests()
    {
        _engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
        _runtime = new ContainerRuntimeTable(id => new ContainerLog(_dir.File($"{id}.log")), _engine.Containers.Contains);
        var networking = new ContainerNetworking(_engine.Containers, _engine.Networks, _runtime, fabric: null);
        _recipe = new ContainerVmRecipe(_engine.Config, _engine.Images, _engine.Volumes, networking, _time);
    }

    public void Dispose()
    {
        _runtime.Dispose();
        _engine.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task TheDisksAreTheLayersThenScratchThenVolumesAndTheSpecNamesEachByItsRole()
    {
        await ImportAsync();
        var file = _dir.File("app.conf");
        await File.WriteAllTextAsync(file, "x");
        var folder = Directory.CreateDirectory(_dir.File("site")).FullName;
        var record = _engine.Runtime.Create("web", "one", new Dictionary<string, string>(), new ContainerConfig
        {
            Cmd = ["nginx"],
            Binds = [new HostBind(file, "/etc/app.conf", ReadOnly: true), new HostBind(folder, "/srv")],
            Mounts = [new Volumes.VolumeMount("data", "/data", ReadOnly: true)],
            Tmpfs = new Dictionary<string, string> { ["/run"] = "size=1m" },
            ExtraHosts = ["gw:host-gateway", "db:10.0.0.9"],
        });

        var disks = _recipe.DisksOf(record);
        var spec = _recipe.RunSpecOf(record, disks, new PublicNic("10.0.2.15", "10.0.2.2", ["10.0.2.3"]) { HostAddress = "10.0.2.2" }, keepAfterExit: false);
        var vm = _recipe.RunVmOf(record, disks, new VmResources(1, 256L << 20));

        Assert.Equal([("l0", DiskRole.ImageLayer, true), ("scratch", DiskRole.Scratch, false), ("v0", DiskRole.Volume, false)], disks.Select(d => (d.Id, d.Role, d.ReadOnly)));
        Assert.True(File.Exists(disks[1].Path));
        Assert.Equal([("l0", "layer", 0), ("scratch", "scratch", 0), ("v0", "volume", 0)], spec.Disks.Select(d => (d.Serial, d.Role, d.Index)));
        Assert.Equal(("/data", true), (spec.Disks[2].Path, spec.Disks[2].ReadOnly));
        Assert.Equal([("vic-bind-0", "/etc/app.conf", true, (string?)"app.conf"), ("vic-bind-1", "/srv", false, null)], spec.Shares.Select(s => (s.Tag, s.Path, s.ReadOnly, s.FileName)));
        Assert.Equal([(_dir.Path, true), (folder, false)], vm.Shares!.Select(s => (s.HostPath, s.ReadOnly)));
        Assert.Equal(["10.0.2.2\tgw", "10.0.0.9\tdb"], spec.ExtraHosts);
        Assert.Equal(record.Id[..12], spec.Hostname);
        Assert.Equal(("size=1m", false, false), (spec.Tmpfs.Single(t => t.Path == "/run").Options, spec.KeepAfterExit, spec.FilesOnly));
        Assert.Equal(["10.0.2.3"], spec.Dns);
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds(), spec.WallClockUnixMs);
    }

    [Fact]
    public async Task TheVmCarriesItsContainersRecordAndAFilesVmRunsNothing()
    {
        await ImportAsync();
        var record = _engine.Runtime.Create("keeper", "one", new Dictionary<string, string> { ["team"] = "a" }, new ContainerConfig { Cmd = ["sleep", "600"] });
        var disks = _recipe.DisksOf(record);

        var run = _recipe.RunVmOf(record, disks, new VmResources(2, 512L << 20));
        var files = _recipe.FilesVmOf(record, disks);
        var carried = System.Text.Json.JsonSerializer.Deserialize<ContainerRecord>(run.ExtraConfig[ContainerVmRecipe.ContainerRecordKey], Store.StoreJson.Options)!;

        Assert.Equal((record.Id, "keeper", "a", "sleep 600"), (carried.Id, carried.Name, carried.Labels["team"], string.Join(" ", carried.Config.Cmd)));
        Assert.Equal(record.Id, run.ExtraConfig[ContainerVmRecipe.ContainerIdKey]);
        Assert.Equal($"keeper-{record.Id[..12]}", run.Name);
        Assert.Equal([ContainerVmRecipe.ContainerIdKey], files.ExtraConfig.Keys);
        Assert.Equal("keeper-files", files.Name);
        Assert.True(ContainerVmRecipe.FilesSpecOf(record, disks).FilesOnly);
    }

    [Fact]
    public void AContainerWhoseImageHasGoneIsRefusedWithItsName()
    {
        var record = _engine.Containers.Create(new NewContainer("orphan", "gone:1", null, new ContainerConfig { Cmd = ["true"] }, new string('f', 64)));

        var refused = Assert.Throws<Errors.PortLayerException>(() => _recipe.DisksOf(record));

        Assert.Equal((Errors.ErrorKind.NotFound, "No such image: gone:1"), (refused.Kind, refused.Message));
    }

    /// <summary>An image of one (empty) layer, "one".</summary>
    private async Task ImportAsync()
    {
        using var first = new MemoryStream(new byte[1024]);
        var bottom = await _engine.Images.ImportAsync(first, "one", "latest", [], null, CancellationToken.None);
        _ = bottom;
        using var second = new MemoryStream(new byte[1024]);
        await _engine.Images.ImportAsync(second, "one", "latest", [], null, CancellationToken.None);
    }
}
