using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Events;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>The reader of a run's channel alone: the test plays the tether on a loopback socket.</summary>
public sealed class RunPumpTests : IDisposable
{
    private readonly PowerSwitch _power = new();
    private readonly RuntimeParts _parts;

    public RunPumpTests() => _parts = new RuntimeParts(power: _power);

    public void Dispose() => _parts.Dispose();

    [Fact]
    public async Task TheMainProcessOutputStartAndExitAreRecorded()
    {
        var id = _parts.Running("main");
        var exited = _parts.Runtime.Of(id).NextExit;
        var (run, guest) = await _parts.RunAsync(id);
        using (guest)
        {
            await guest.SendAsync(FrameType.Started, 0, Payloads.Json(new StartedMessage(42), InteractionJson.Default.StartedMessage));
            await guest.SendAsync(FrameType.Stdout, 0, "hi\n"u8.ToArray());
            await guest.SendAsync(FrameType.Stderr, 0, "oops\n"u8.ToArray());
            await guest.SendAsync(FrameType.Exit, 0, Payloads.Int32(3));

            Assert.Equal(42, await run.MainStarted.Task.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(3, await exited.WaitAsync(TimeSpan.FromSeconds(10)));
            await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        var record = _parts.Catalog.Resolve(id);
        Assert.Equal((ContainerState.Exited, 3, ""), (record.Status.State, record.Status.ExitCode, record.Status.Error));
        Assert.Equal([(OutputStream.Stdout, "hi\n"), (OutputStream.Stderr, "oops\n")], _parts.Runtime.Of(id).Log.ReadAll().Select(c => (c.Stream, System.Text.Encoding.UTF8.GetString(c.Data))));
        Assert.Null(_parts.Runtime.RunningOf(id));
        Assert.Empty(_power.PoweredOff);
    }

    [Fact]
    public async Task AProcessTheGuestKilledForMemoryEndsOomKilledWithDockerdsOomEventBeforeItsDie()
    {
        var id = _parts.Running("hungry");
        var (run, guest) = await _parts.RunAsync(id);
        using (guest)
        {
            await guest.SendAsync(FrameType.Started, 0, Payloads.Json(new StartedMessage(42), InteractionJson.Default.StartedMessage));
            await guest.SendAsync(FrameType.OomKilled, 0, ReadOnlyMemory<byte>.Empty);
            await guest.SendAsync(FrameType.Exit, 0, Payloads.Int32(137));
            await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        // The history first; the live wait after it ends with the token.
        var events = new List<string>();
        using var enough = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await foreach (var e in _parts.Events.ReadAsync(EventFilter.None, DateTimeOffset.UnixEpoch, _parts.Time.GetUtcNow().AddMinutes(1), enough.Token))
            {
                events.Add(e.Action);
            }
        }
        catch (OperationCanceledException)
        {
        }

        var status = _parts.Catalog.Resolve(id).Status;
        Assert.Equal((ContainerState.Exited, 137, true), (status.State, status.ExitCode, status.OomKilled));
        Assert.Equal(["oom", "die"], events.Where(a => a is "oom" or "die"));

        // A start clears it, as dockerd's does.
        Assert.False(status.Start(new ContainerRef(id, "hungry"), _parts.Time.GetUtcNow()).OomKilled);
    }

    [Fact]
    public async Task ExecSessionsGetTheirOwnOutputAndExitsAndTheContainerRunsOn()
    {
        var id = _parts.Running("execs");
        var (run, guest) = await _parts.RunAsync(id);
        using (guest)
        {
            var echo = new ExecSession("e1", id, new ExecOptions(["echo"], [], "", "", false, false, true, true));
            var missing = new ExecSession("e2", id, new ExecOptions(["nosuch"], [], "", "", false, false, true, true));
            run.Execs[1] = echo;
            run.Execs[2] = missing;
            await guest.SendAsync(FrameType.Started, 1, Payloads.Json(new StartedMessage(7), InteractionJson.Default.StartedMessage));
            await guest.SendAsync(FrameType.Stdout, 1, "out\n"u8.ToArray());
            await guest.SendAsync(FrameType.Exit, 1, Payloads.Int32(5));
            await guest.SendAsync(FrameType.Error, 2, Payloads.Text("exec: nosuch: not found"));

            var output = await ReadAllAsync(echo);
            var failed = await ReadAllAsync(missing);

            Assert.Equal((7, 5), (echo.Pid, echo.ExitCode));
            Assert.Equal([(OutputStream.Stdout, "out\n")], output);
            Assert.Equal(126, missing.ExitCode);
            Assert.Equal([(OutputStream.Stderr, "exec: nosuch: not found\n")], failed);
            Assert.Empty(run.Execs);
            Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);
            Assert.Empty(_parts.Runtime.Of(id).Log.ReadAll());
        }

        // The channel's end is the run's: recorded before the store closes.
        await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AGuestThatBreaksTheProtocolIsPoweredOffAndItsContainerEndsSayingWhy()
    {
        var id = _parts.Running("garbage");
        var (run, guest) = await _parts.RunAsync(id);
        using (guest)
        {
            await guest.Guest.GetStream().WriteAsync(new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff });
            await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        var record = _parts.Catalog.Resolve(id);
        Assert.Equal((ContainerState.Exited, 137), (record.Status.State, record.Status.ExitCode));
        Assert.Contains("broke the protocol", record.Status.Error, StringComparison.Ordinal);
        Assert.Equal([id], _power.PoweredOff);
    }

    [Fact]
    public async Task AChannelThatEndsWithoutAnExitIsAVmThatDied()
    {
        var id = _parts.Running("died");
        var (run, guest) = await _parts.RunAsync(id);
        guest.Dispose();
        await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var record = _parts.Catalog.Resolve(id);
        Assert.Equal((ContainerState.Exited, 137, "the ContainerVM stopped unexpectedly"), (record.Status.State, record.Status.ExitCode, record.Status.Error));
        Assert.Empty(_power.PoweredOff);
    }

    [Fact]
    public async Task AnAbandonedRunsEndIsNotTheContainersEnd()
    {
        var id = _parts.Running("files");
        var (run, guest) = await _parts.RunAsync(id);
        run.Abandoned = true;
        _parts.Runtime.Of(id).ClearRunning(run);
        await guest.SendAsync(FrameType.Exit, 0, Payloads.Int32(1));
        guest.Dispose();
        await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);
        Assert.False(_parts.Runtime.Of(id).NextExit.IsCompleted);
    }

    [Fact]
    public async Task ABuildStepsExitLeavesItsVmOnUntilTheLayerIsReadAndThenEndsTheRun()
    {
        var id = _parts.Running("step");
        var step = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(_parts.Runtime.Of(id).TryBeginBuildStep(step));
        var (run, guest) = await _parts.RunAsync(id);
        await guest.SendAsync(FrameType.Exit, 0, Payloads.Int32(0));

        Assert.Equal(0, await step.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await Task.Delay(200);
        Assert.False(run.RunEnded.Task.IsCompleted, "the run ended with the step's process: its layer could not be read");
        Assert.Equal(ContainerState.Running, _parts.Catalog.Resolve(id).Status.State);

        await run.PowerOffQuietlyAsync();
        Assert.Equal(FrameType.PowerOff, (await guest.GuestReadAsync()).Type);
        guest.Dispose();
        await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((ContainerState.Exited, 0), (_parts.Catalog.Resolve(id).Status.State, _parts.Catalog.Resolve(id).Status.ExitCode));
    }

    [Fact]
    public async Task AStateThatReportsTheMainProcessEndedPowersTheVmOffAndRecordsItsExit()
    {
        // A build step's VM the endpoint lost while it ran: on reconnection its tether reports the
        // process ended and waits, on, for its layer to be read. Nobody will: it is told to go.
        var id = _parts.Running("lost-step");
        var (run, guest) = await _parts.RunAsync(id);
        using (guest)
        {
            await guest.SendAsync(FrameType.State, 0, Payloads.Json(new StateReport([new SessionState(0, 9, 4)]), InteractionJson.Default.StateReport));

            Assert.Equal(FrameType.PowerOff, (await guest.GuestReadAsync()).Type);
            await run.RunEnded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Equal((ContainerState.Exited, 4), (_parts.Catalog.Resolve(id).Status.State, _parts.Catalog.Resolve(id).Status.ExitCode));
    }

    private static async Task<List<(OutputStream, string)>> ReadAllAsync(ExecSession exec)
    {
        var chunks = new List<(OutputStream, string)>();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await foreach (var chunk in exec.Output.ReadAllAsync(limit.Token))
        {
            chunks.Add((chunk.Stream, System.Text.Encoding.UTF8.GetString(chunk.Data)));
        }

        return chunks;
    }
}

/// <summary>A hypervisor's power switch that records what it was asked to power off.</summary>
internal sealed class PowerSwitch : IVmPower
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _off = new();

    public IReadOnlyList<string> PoweredOff => [.. _off];

    public Task PowerOnAsync(string vmId, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken)
    {
        _off.Enqueue(vmId);
        return Task.CompletedTask;
    }

    public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken) => Task.CompletedTask;
}
