using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>What follows a run's end, alone: a real catalog and clock, runs on loopback channels, no hypervisor.</summary>
public sealed class RunEndingTests : IDisposable
{
    private readonly RuntimeParts _parts = new();

    public void Dispose() => _parts.Dispose();

    [Fact]
    public async Task AnExitIsRecordedWithItsDieEventAndEndsTheRunsExecsAndStdin()
    {
        var id = _parts.Running("plain");
        var since = _parts.Time.GetUtcNow();
        var (run, guest) = await _parts.RunAsync(id, pumped: false);
        using (guest)
        {
            var exec = new ExecSession("e1", id, new ExecOptions(["sleep"], [], "", "", false, false, true, true));
            run.Execs[1] = exec;
            var stdin = _parts.Runtime.Of(id).Stdin;
            var exited = _parts.Runtime.Of(id).NextExit;

            await _parts.Ending.FinishAsync(run, _parts.Runtime.Of(id).Log, 2);

            Assert.Equal(2, await exited);
            Assert.Equal(137, exec.ExitCode);
            Assert.True(stdin.Reader.Completion.IsCompleted);
            Assert.Null(_parts.Runtime.RunningOf(id));
        }

        var events = await EventHistory.ReadAsync(_parts.Events, _parts.Time, since);
        Assert.Contains(events, e => e.Action == "die" && e.Attributes["exitCode"] == "2");
        Assert.Equal((ContainerState.Exited, 2), (_parts.Catalog.Resolve(id).Status.State, _parts.Catalog.Resolve(id).Status.ExitCode));
    }

    [Fact]
    public async Task AnAutoRemovedContainerIsForgottenWithItsFolder()
    {
        var id = _parts.Running("gone", new ContainerConfig { Cmd = ["true"], AutoRemove = true });
        var folder = Directory.CreateDirectory(Path.Combine(_parts.ContainersDirectory, id)).FullName;
        var removed = _parts.Runtime.Of(id).Removed.Task;
        var (run, guest) = await _parts.RunAsync(id, pumped: false);
        using (guest)
        {
            await _parts.Ending.FinishAsync(run, _parts.Runtime.Of(id).Log, 0);
        }

        Assert.Equal(0, await removed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(_parts.Catalog.Contains(id));
        Assert.False(Directory.Exists(folder));
        Assert.Equal(0, _parts.Runtime.Count);
    }

    [Fact]
    public async Task AnExitThePolicyRestartsIsScheduledAndStartsAfterItsBackOff()
    {
        var id = _parts.Running("again", new ContainerConfig { Cmd = ["false"], RestartPolicy = new RestartPolicy("on-failure") });
        var (run, guest) = await _parts.RunAsync(id, pumped: false);
        using (guest)
        {
            await _parts.Ending.FinishAsync(run, _parts.Runtime.Of(id).Log, 1);
        }

        Assert.Equal(ContainerState.Restarting, _parts.Catalog.Resolve(id).Status.State);
        for (var i = 0; i < 300 && _parts.Restarted.IsEmpty; i++)
        {
            _parts.Time.Advance(TimeSpan.FromMilliseconds(50));
            await Task.Delay(10);
        }

        Assert.Equal([id], _parts.Restarted);
        Assert.Equal(1, _parts.Catalog.Resolve(id).RestartCount);
    }

    [Fact]
    public async Task ARunThatEndsAsItsContainerIsRemovedReportsItsDeathAndLeavesTheRemovalAlone()
    {
        var id = _parts.Running("removing");
        var since = _parts.Time.GetUtcNow();
        _parts.Catalog.Transition(id, (who, s) => s.BeginRemoval(who, force: true), null);
        var (run, guest) = await _parts.RunAsync(id, pumped: false);
        using (guest)
        {
            await _parts.Ending.FinishAsync(run, _parts.Runtime.Of(id).Log, null);
        }

        var events = await EventHistory.ReadAsync(_parts.Events, _parts.Time, since);
        Assert.Contains(events, e => e.Action == "die" && e.Attributes["exitCode"] == "137");
        Assert.Equal(ContainerState.Removing, _parts.Catalog.Resolve(id).Status.State);
    }

    [Fact]
    public void AContainerWhoseVmWentWhileTheEndpointWasAwayEndsWith137AndAnExitedOneStaysAsItWas()
    {
        var lost = _parts.Running("lost");
        var done = _parts.Running("done");
        _parts.Catalog.Transition(done, (who, s) => s.Exit(who, 0, _parts.Time.GetUtcNow()), "die");

        _parts.Ending.MarkLost(lost);
        _parts.Ending.MarkLost(done);

        var record = _parts.Catalog.Resolve(lost).Status;
        Assert.Equal((ContainerState.Exited, 137, "the ContainerVM stopped while the endpoint was away"), (record.State, record.ExitCode, record.Error));
        Assert.Equal((ContainerState.Exited, 0), (_parts.Catalog.Resolve(done).Status.State, _parts.Catalog.Resolve(done).Status.ExitCode));
    }
}
