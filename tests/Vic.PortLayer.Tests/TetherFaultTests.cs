using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>
/// A tether the endpoint must not trust: one that refuses its channel, answers its spec with garbage,
/// cuts a frame short, claims a 2 GiB frame, or breaks the protocol while its container runs. Each
/// start returns, the container ends up exited (or never started) with the reason said, a guest that
/// broke the protocol is powered off, and the next container on the same VCH runs as usual.
/// </summary>
public sealed class TetherFaultTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(TetherFault.RefuseChannel)]
    [InlineData(TetherFault.Garbage)]
    [InlineData(TetherFault.DropMidFrame)]
    [InlineData(TetherFault.OversizedFrame)]
    [InlineData(TetherFault.GarbageWhileRunning)]
    [InlineData(TetherFault.NonsenseState)]
    public async Task AMisbehavingTetherEndsItsContainerAndNothingElse(TetherFault fault)
    {
        var faulty = new HashSet<string>();
        using var backend = new ScriptedTetherBackend(exitCode: null, faultOf: id => faulty.Contains(id) ? fault : TetherFault.None);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(8, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        using var emptyTar = new MemoryStream(new byte[1024]);
        await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
        var bad = engine.Runtime.Create("bad", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        faulty.Add(bad);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var start = await Record.ExceptionAsync(() => engine.Runtime.StartAsync(bad, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        var took = clock.Elapsed;
        var ended = await EndedAsync(engine, bad);
        var vm = (await backend.ListAsync(CancellationToken.None)).FirstOrDefault(v => v.VmId == bad);

        var good = engine.Runtime.Create("good", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(good, CancellationToken.None);
        var goodState = engine.Containers.Resolve(good).Status.State;
        await engine.Runtime.RemoveAsync(bad, force: true, CancellationToken.None);
        await engine.Runtime.RemoveAsync(good, force: true, CancellationToken.None);

        Assert.True(took < TimeSpan.FromSeconds(15), $"the start took {took.TotalSeconds:0.0} s");
        if (start is not null)
        {
            // Refused before the process ran: a Docker error with the reason, and the container not running.
            var refused = Assert.IsType<PortLayerException>(start);
            Assert.Equal(ErrorKind.System, refused.Kind);
            Assert.Contains("tether", refused.Message, StringComparison.Ordinal);
            Assert.NotEqual(ContainerState.Running, ended.Status.State);
        }
        else
        {
            Assert.Equal(ContainerState.Exited, ended.Status.State);
            Assert.Equal(137, ended.Status.ExitCode);
            Assert.Contains("protocol", ended.Status.Error, StringComparison.Ordinal);
        }

        Assert.Equal(0, engine.Runtime.ProcessesOf(bad).Pid);
        Assert.True(vm is null || vm.Power == PowerState.Off, "a guest that broke the protocol is left running");
        Assert.Equal(ContainerState.Running, goodState);
        Assert.Equal((0, 0), engine.Runtime.HeldState);
    }

    private static async Task<ContainerRecord> EndedAsync(VchEngine engine, string id)
    {
        for (var i = 0; i < 100 && engine.Containers.Resolve(id).Status.IsRunning; i++)
        {
            await Task.Delay(100);
        }

        return engine.Containers.Resolve(id);
    }
}
