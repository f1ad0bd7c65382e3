using System.Net;
using System.Net.Sockets;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>A start against a fake hypervisor whose guests are a scripted tether on a loopback socket.</summary>
public sealed class ContainerStartTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AProcessThatEndsAtOnceLeavesTheContainerExitedNotRunning()
    {
        // The tether reports Started and Exit back to back: the exit reaches the endpoint while the
        // start has yet to commit Running. Several rounds, as the two race on the thread pool.
        using var backend = new ScriptedTetherBackend(exitCode: 3);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);

        var outcomes = new List<(ContainerState, int)>();
        for (var round = 0; round < 10; round++)
        {
            var id = engine.Runtime.Create($"quick{round}", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
            var waited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
            await engine.Runtime.StartAsync(id, CancellationToken.None);
            var code = await waited.WaitAsync(TimeSpan.FromSeconds(10));
            var status = engine.Containers.Resolve(id).Status;
            outcomes.Add((status.State, code));
        }

        Assert.All(outcomes, o => Assert.Equal((ContainerState.Exited, 3), o));
    }

    [Fact]
    public async Task AnAutoRemovedContainerWhoseProcessEndsAtOnceIsRemovedAndItsStartSucceeds()
    {
        using var backend = new ScriptedTetherBackend(exitCode: 0);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);

        for (var round = 0; round < 10; round++)
        {
            var id = engine.Runtime.Create($"gone{round}", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"], AutoRemove = true }).Id;
            var removed = engine.Runtime.WaitAsync(id, WaitCondition.Removed, CancellationToken.None);
            await engine.Runtime.StartAsync(id, CancellationToken.None);
            await removed.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Empty(engine.Containers.List());
    }

    [Fact]
    public async Task AContainerVmPoweredOffBehindTheVchsBackEndsItsContainerWithinTwoSeconds()
    {
        // The channel stays open (as a proxy's or a lingering socket's can): only the watch tells.
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("long", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        var stillRunning = engine.Containers.Resolve(id).Status.State;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));
        var code = await exited.WaitAsync(TimeSpan.FromSeconds(10));
        var took = clock.Elapsed;
        var record = engine.Containers.Resolve(id);

        Assert.Equal(ContainerState.Running, stillRunning);
        Assert.Equal(137, code);
        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.True(took < TimeSpan.FromSeconds(2), $"ended {took.TotalMilliseconds:0} ms after the power-off");
    }

    [Fact]
    public async Task AnExitReadBeforeThePowerOffKeepsItsCode()
    {
        // Every ordinary end powers the VM off right after the exit: the watch must not turn it into 137.
        using var backend = new ScriptedTetherBackend(exitCode: 5);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("short", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));

        Assert.Equal(5, await exited.WaitAsync(TimeSpan.FromSeconds(10)));
        await Task.Delay(ContainerService.WatchGrace + TimeSpan.FromMilliseconds(200));
        Assert.Equal(ContainerState.Exited, engine.Containers.Resolve(id).Status.State);
        Assert.Equal(5, engine.Containers.Resolve(id).Status.ExitCode);
    }

    [Fact]
    public async Task AStopThatMeetsARestartByPolicyMidStartStopsTheContainerForGood()
    {
        // docker stop lands while restart=always is starting the ContainerVM again: the stop must win, not
        // be undone by the start committing and the stop's own kill bringing the container back once more.
        var secondClone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var backend = new ScriptedTetherBackend(exitCode: null, async n =>
        {
            if (n == 2)
            {
                secondClone.TrySetResult();
                await release.Task;
            }
        });
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("steady", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "1"], RestartPolicy = new RestartPolicy("always") }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));
        await secondClone.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stop = engine.Runtime.StopAsync(id, 5, CancellationToken.None);
        await Task.Delay(200);
        var stopWaitedForTheStart = !stop.IsCompleted;
        release.TrySetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(1000);
        var record = engine.Containers.Resolve(id);

        Assert.True(stopWaitedForTheStart);
        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.Equal(143, record.Status.ExitCode);
        Assert.True(record.ManuallyStopped);
        Assert.Equal(2, backend.Clones);
    }

    [Fact]
    public async Task AStopDuringARestartsBackOffCallsTheRestartOff()
    {
        using var backend = new ScriptedTetherBackend(exitCode: 3);
        var clock = new ManualTimeProvider();
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), clock, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("flaky", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["false"], RestartPolicy = new RestartPolicy("on-failure") }).Id;
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await exited.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually(() => engine.Containers.Resolve(id).Status.State == ContainerState.Restarting);

        await engine.Runtime.StopAsync(id, 1, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(2));
        await Task.Delay(300);
        var record = engine.Containers.Resolve(id);

        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.Equal(3, record.Status.ExitCode);
        Assert.Equal(1, backend.Clones);
    }

    [Fact]
    public async Task AStartWhoseTetherCannotBeReachedFailsLeavesNoRunAndRemovesARmContainer()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null, faultOf: _ => TetherFault.RefuseChannel);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var kept = engine.Runtime.Create("kept", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
        var gone = engine.Runtime.Create("gone", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"], AutoRemove = true }).Id;

        var refused = await Assert.ThrowsAsync<Errors.PortLayerException>(() => engine.Runtime.StartAsync(kept, CancellationToken.None));
        await Assert.ThrowsAsync<Errors.PortLayerException>(() => engine.Runtime.StartAsync(gone, CancellationToken.None));

        Assert.Contains("did not answer its tether's channel", refused.Message, StringComparison.Ordinal);
        Assert.Equal(ContainerState.Created, engine.Containers.Resolve(kept).Status.State);
        Assert.Equal(PowerState.Off, (await backend.ListAsync(CancellationToken.None)).Single(vm => vm.VmId == kept).Power);
        Assert.DoesNotContain(engine.Containers.List(), c => c.Id == gone);
        Assert.DoesNotContain(await backend.ListAsync(CancellationToken.None), vm => vm.VmId == gone);
        Assert.Equal((0, 0), engine.Runtime.HeldState with { Containers = engine.Runtime.HeldState.Containers - 1 });
    }

    [Fact]
    public async Task AStartOfARunningContainerMakesNoSecondVm()
    {
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("once", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);

        var again = await Assert.ThrowsAsync<Errors.PortLayerException>(() => engine.Runtime.StartAsync(id, CancellationToken.None));

        Assert.Equal(Errors.ErrorKind.NotModified, again.Kind);
        Assert.Equal(1, backend.Clones);
        Assert.Single(backend.Specs);
        Assert.Equal(42, engine.Runtime.ProcessesOf(id).Pid);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition());
    }

    private static async Task ImportEmptyImageAsync(VchEngine engine)
    {
        using var emptyTar = new MemoryStream(new byte[1024]);
        await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
    }
}
