using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>A container's files through a VM, against a fake hypervisor whose guests are a scripted tether.</summary>
public sealed class FilesVmsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AStoppedContainersFilesComeFromAVmMadeForThemThatGoesAfterAndTheContainerStaysAsItWas()
    {
        using var backend = new ScriptedTetherBackend(exitCode: 0);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("done", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await exited.WaitAsync(TimeSpan.FromSeconds(10));
        var before = engine.Containers.Resolve(id).Status;

        var during = await engine.Runtime.UseFilesAsync(id, async _ =>
        {
            // The files VM's tether has its spec (the run's was the first).
            for (var i = 0; i < 200 && backend.Specs.Count < 2; i++)
            {
                await Task.Delay(25);
            }

            return await backend.ListAsync(CancellationToken.None);
        }, CancellationToken.None);

        var vm = Assert.Single(during);
        Assert.Equal(("done-files", PowerState.On), (vm.Name, vm.Power));
        Assert.True(backend.Specs.Last().FilesOnly);
        Assert.Empty(await backend.ListAsync(CancellationToken.None));
        var after = engine.Containers.Resolve(id).Status;
        Assert.Equal((before.State, before.ExitCode, before.FinishedAt), (after.State, after.ExitCode, after.FinishedAt));
        Assert.Equal(0, engine.Runtime.ProcessesOf(id).Pid);
    }

    [Fact]
    public async Task ARunningContainersFilesComeFromItsOwnVm()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("up", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);

        var served = await engine.Runtime.UseFilesAsync(id, _ => Task.FromResult(backend.Clones), CancellationToken.None);

        Assert.Equal(1, served);
        Assert.Equal(ContainerState.Running, engine.Containers.Resolve(id).Status.State);
    }

    [Fact]
    public async Task AContainerMarkedForRemovalIsRefusedAndNoVmIsMade()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("leaving", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
        engine.Containers.Transition(id, (who, s) => s.BeginRemoval(who, force: true), null);

        var refused = await Assert.ThrowsAsync<PortLayerException>(() => engine.Runtime.UseFilesAsync(id, _ => Task.FromResult(true), CancellationToken.None));

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Equal(0, backend.Clones);
    }

    [Fact]
    public async Task AStartThatComesWhileAFilesVmServesWaitsForItToGo()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("queued", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        var release = new TaskCompletionSource();
        var serving = new TaskCompletionSource();
        var files = engine.Runtime.UseFilesAsync(id, async _ =>
        {
            serving.SetResult();
            await release.Task;
            return true;
        }, CancellationToken.None);
        await serving.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var start = engine.Runtime.StartAsync(id, CancellationToken.None);
        await Task.Delay(300);
        var startedEarly = start.IsCompleted;
        release.SetResult();
        await files;
        await start.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(startedEarly, "a start made a second ContainerVM for the container while its files VM served");
        Assert.Equal(ContainerState.Running, engine.Containers.Resolve(id).Status.State);
        Assert.Equal(["queued-files", $"queued-{id[..12]}"], backend.Cloned.Select(c => c.Name));
        Assert.Equal(PowerState.On, Assert.Single(await backend.ListAsync(CancellationToken.None)).Power);
    }

    private async Task<VchEngine> EngineAsync(ScriptedTetherBackend backend)
    {
        var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        using var emptyTar = new MemoryStream(new byte[1024]);
        await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
        return engine;
    }
}
