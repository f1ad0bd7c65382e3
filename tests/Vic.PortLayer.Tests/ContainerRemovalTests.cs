using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>docker rm against a fake hypervisor: what a removal that races a start, or fails half way, leaves.</summary>
public sealed class ContainerRemovalTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AnRmDashFThatComesWhileAStartMakesItsVmWaitsForItAndLeavesNoVmBehind()
    {
        var clone = new HeldClone();
        using var backend = new ScriptedTetherBackend(exitCode: null, beforeClone: clone.HoldAsync);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("racing", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;

        var start = engine.Runtime.StartAsync(id, CancellationToken.None);
        await clone.Entered;
        var remove = engine.Runtime.RemoveAsync(id, force: true, CancellationToken.None);
        var removedBeforeTheStartEnded = remove.IsCompleted;
        clone.Release();

        var refused = await Assert.ThrowsAsync<PortLayerException>(() => start.WaitAsync(TimeSpan.FromSeconds(30)));
        await remove.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(removedBeforeTheStartEnded);
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Empty(await backend.ListAsync(CancellationToken.None));
        Assert.Empty(engine.Containers.List());
        Assert.False(Directory.Exists(Path.Combine(_dir.File("data"), "containers", id)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnRmDashFDoesNotWaitForAStartWhoseProcessNeverComes(bool whileTheVmIsMade)
    {
        // The start waits up to 60 s for the process (a root waiting on an NFS server that does not
        // answer); rm -f does not wait that out, whether it comes while the VM is made or after the
        // spec went: the start is refused, the VM goes, the container goes.
        var clone = new HeldClone();
        using var backend = new ScriptedTetherBackend(exitCode: null, beforeClone: whileTheVmIsMade ? clone.HoldAsync : null, faultOf: _ => TetherFault.NeverStarts);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("stuck", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        var start = engine.Runtime.StartAsync(id, CancellationToken.None);
        if (whileTheVmIsMade)
        {
            await clone.Entered;
        }
        else
        {
            for (var i = 0; i < 300 && backend.Specs.IsEmpty; i++)
            {
                await Task.Delay(20);
            }
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var remove = engine.Runtime.RemoveAsync(id, force: true, CancellationToken.None);
        clone.Release();
        var refused = await Assert.ThrowsAsync<PortLayerException>(() => start.WaitAsync(TimeSpan.FromSeconds(30)));
        await remove.WaitAsync(TimeSpan.FromSeconds(30));
        var took = clock.Elapsed;

        if (!whileTheVmIsMade)
        {
            Assert.Single(backend.Specs);
        }

        Assert.True(took < TimeSpan.FromSeconds(20), $"rm -f waited {took.TotalSeconds:0.0} s for a start whose process never came");
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Empty(engine.Containers.List());
        Assert.Empty(await backend.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AnRmWhoseClientGoesAwayWhileItWaitsForAStartStillFinishes()
    {
        var clone = new HeldClone();
        using var backend = new ScriptedTetherBackend(exitCode: null, beforeClone: clone.HoldAsync);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("impatient", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        var start = engine.Runtime.StartAsync(id, CancellationToken.None);
        await clone.Entered;

        using var client = new CancellationTokenSource();
        var remove = engine.Runtime.RemoveAsync(id, force: true, client.Token);
        await client.CancelAsync();
        clone.Release();
        await Assert.ThrowsAsync<PortLayerException>(() => start.WaitAsync(TimeSpan.FromSeconds(30)));
        await remove.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(engine.Containers.List());
        Assert.Empty(await backend.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AnRmOfAContainerWhoseVmWasDeletedBehindTheVchsBackRemovesIt()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("orphan", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        backend.PowerOffFault = PortLayerException.NotFound($"no VM {id}");

        await engine.Runtime.RemoveAsync(id, force: true, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Empty(engine.Containers.List());
    }

    [Fact]
    public async Task ARemovalThatFailsHalfWayLeavesTheContainerDeadAndASecondRemovalFinishesIt()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = await EngineAsync(backend);
        var id = engine.Runtime.Create("stubborn", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);

        backend.DestroyFault = new IOException("the datastore refused the delete");
        var failed = await Assert.ThrowsAsync<IOException>(() => engine.Runtime.RemoveAsync(id, force: true, CancellationToken.None));
        var dead = engine.Containers.Resolve(id).Status;
        var restart = await Assert.ThrowsAsync<PortLayerException>(() => engine.Runtime.StartAsync(id, CancellationToken.None));
        backend.DestroyFault = null;
        await engine.Runtime.RemoveAsync(id, force: true, CancellationToken.None);

        Assert.Contains("refused the delete", failed.Message, StringComparison.Ordinal);
        Assert.Equal(ContainerState.Dead, dead.State);
        Assert.Equal("the datastore refused the delete", dead.Error);
        Assert.Equal(ErrorKind.Conflict, restart.Kind);
        Assert.Empty(engine.Containers.List());
        Assert.Empty(await backend.ListAsync(CancellationToken.None));
    }

    /// <summary>Holds a clone in flight until the test lets it go: a start caught making its VM.</summary>
    private sealed class HeldClone
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        public async Task HoldAsync(int clone)
        {
            _entered.TrySetResult();
            await _released.Task;
        }

        public void Release() => _released.SetResult();
    }

    private async Task<VchEngine> EngineAsync(ScriptedTetherBackend backend)
    {
        var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        using var emptyTar = new MemoryStream(new byte[1024]);
        await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
        return engine;
    }
}
