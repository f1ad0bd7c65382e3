using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>What an endpoint restart finds in the store, and in the ContainerVMs still on.</summary>
public sealed class ContainerRecoveryTests : IDisposable
{
    private static readonly System.Text.Json.JsonSerializerOptions WebJson = new(System.Text.Json.JsonSerializerDefaults.Web);

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

    [Fact]
    public async Task AnEmptyStoreTakesInTheContainersItsVmsCarry()
    {
        ContainerRecord record;
        using (var first = Engine())
        {
            record = first.Containers.Create(new NewContainer("keeper", "busybox", new Dictionary<string, string> { ["team"] = "a" }, new ContainerConfig { Cmd = ["sleep", "600"] }));
        }

        var json = System.Text.Json.JsonSerializer.Serialize(record, WebJson);
        var inventory = new InventoryBackend([
            new ContainerVm(record.Id, "keeper-vm", PowerState.Off, new VmResources(1, 256L << 20), ProvisioningPath.LinkedClone, new Dictionary<string, string> { ["vic.container.id"] = record.Id, ["vic.container.record"] = json }),
            new ContainerVm("other", "other-vm", PowerState.Off, new VmResources(1, 256L << 20), ProvisioningPath.ColdBoot, new Dictionary<string, string> { ["vic.container.record"] = "{not json" }),
        ]);

        using var fresh = new VchEngine(new VchConfig("test-vch", _dir.File("fresh"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time, inventory);
        await fresh.Runtime.RecoverAsync(CancellationToken.None);

        var adopted = Assert.Single(fresh.Containers.List());
        Assert.Equal((record.Id, "keeper", "a"), (adopted.Id, adopted.Name, adopted.Labels["team"]));
        Assert.Equal(["sleep", "600"], adopted.Config.Cmd);
        Assert.Equal((ContainerState.Exited, 137), (adopted.Status.State, adopted.Status.ExitCode));
    }

    [Fact]
    public async Task AContainerWhoseTetherStillRunsItIsReattachedAndItsLaterExitIsRecorded()
    {
        var id = RunningInTheStore("survivor");
        using var backend = new ScriptedTetherBackend(exitCode: null);
        backend.Seed(new ContainerVm(id, "survivor-vm", PowerState.On, new VmResources(1, 256L << 20), ProvisioningPath.InstantClone, new Dictionary<string, string>()));
        backend.RunsAlready[id] = true;

        using var restarted = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time, backend);
        await restarted.Runtime.RecoverAsync(CancellationToken.None);
        var reattached = restarted.Containers.Resolve(id).Status.State;
        await restarted.Runtime.KillAsync(id, "KILL", CancellationToken.None);

        Assert.Equal(ContainerState.Running, reattached);
        Assert.Equal((ContainerState.Exited, 137, ""), (restarted.Containers.Resolve(id).Status.State, restarted.Containers.Resolve(id).Status.ExitCode, restarted.Containers.Resolve(id).Status.Error));
        Assert.Equal(0, backend.Clones);
    }

    [Fact]
    public async Task AContainerWhoseVmNeverGotItsSpecIsPoweredOffAndEndsWith137()
    {
        // The endpoint died between making the VM and handing its tether the spec: the process never ran.
        var id = RunningInTheStore("unborn");
        using var backend = new ScriptedTetherBackend(exitCode: null);
        backend.Seed(new ContainerVm(id, "unborn-vm", PowerState.On, new VmResources(1, 256L << 20), ProvisioningPath.InstantClone, new Dictionary<string, string>()));

        using var restarted = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time, backend);
        await restarted.Runtime.RecoverAsync(CancellationToken.None);

        var lost = restarted.Containers.Resolve(id).Status;
        Assert.Equal((ContainerState.Exited, 137, "the ContainerVM stopped while the endpoint was away"), (lost.State, lost.ExitCode, lost.Error));
        Assert.Equal(PowerState.Off, Assert.Single(await backend.ListAsync(CancellationToken.None)).Power);
        Assert.Empty(backend.Specs);
    }

    private string RunningInTheStore(string name)
    {
        using var engine = Engine();
        var id = engine.Containers.Create(new NewContainer(name, "busybox", null, new ContainerConfig { Cmd = ["sleep", "600"] })).Id;
        engine.Containers.Transition(id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");
        return id;
    }

    /// <summary>A hypervisor that only has an inventory to show.</summary>
    private sealed class InventoryBackend(IReadOnlyList<ContainerVm> vms) : IComputeBackend
    {
        public string Name => "inventory";

        public Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken) => Task.FromResult(vms);

        public async IAsyncEnumerable<ContainerVmChange> WatchAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            yield break;
        }

        public Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task PowerOnAsync(string vmId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DestroyAsync(string vmId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    private VchEngine Engine() => new(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
}
