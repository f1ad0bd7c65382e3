using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>What an endpoint restart finds in the store, without ContainerVMs to reattach to.</summary>
public sealed class ContainerRecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task RunningContainersWhoseVmIsGoneEndWith137AndInterruptedRemovalsFinish()
    {
        string running, removing, created;
        using (var engine = Engine())
        {
            running = engine.Containers.Create(new NewContainer("runner", "busybox")).Id;
            engine.Containers.Transition(running, (who, s) => s.Start(who, _time.GetUtcNow()), "start");
            removing = engine.Containers.Create(new NewContainer("leaving", "busybox")).Id;
            engine.Containers.Transition(removing, (who, s) => s.BeginRemoval(who, force: true), null);
            created = engine.Containers.Create(new NewContainer("waiting", "busybox")).Id;
        }

        using var restarted = Engine();
        await restarted.Runtime.RecoverAsync(CancellationToken.None);

        var lost = restarted.Containers.Resolve(running);
        Assert.Equal((ContainerState.Exited, 137), (lost.Status.State, lost.Status.ExitCode));
        Assert.Equal("the ContainerVM stopped while the endpoint was away", lost.Status.Error);
        Assert.Equal(ContainerState.Created, restarted.Containers.Resolve(created).Status.State);
        Assert.DoesNotContain(restarted.Containers.List(), c => c.Id == removing);
    }

    private VchEngine Engine() => new(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
}
