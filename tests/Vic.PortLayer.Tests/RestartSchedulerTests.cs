using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

/// <summary>Restart policies alone: a real catalog, a clock the test moves, and a start that does what the test says.</summary>
public sealed class RestartSchedulerTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private readonly VchStore _store;
    private readonly ContainerCatalog _catalog;
    private readonly ContainerRuntimeTable _runtime;
    private readonly List<string> _starts = [];
    private Func<string, Task> _start;
    private readonly RestartScheduler _scheduler;

    public RestartSchedulerTests()
    {
        _store = VchStore.Open(_dir.File("vch.db"));
        _catalog = new ContainerCatalog(_store, new EventBus(_time), _time);
        _runtime = new ContainerRuntimeTable(id => throw new InvalidOperationException("no log is opened for a restart"), _catalog.Contains);
        _start = StartRunning;
        _scheduler = new RestartScheduler(_catalog, _runtime, _time, id => _start(id), NullLogger.Instance);
    }

    public void Dispose()
    {
        _runtime.Dispose();
        _store.Dispose();
        _dir.Dispose();
    }

    [Theory]
    [InlineData("always", 0, 0, false, false, true)]
    [InlineData("always", 0, 0, true, false, false)] // stopped by hand
    [InlineData("always", 0, 0, false, true, false)] // --rm
    [InlineData("unless-stopped", 1, 0, false, false, true)]
    [InlineData("on-failure", 0, 0, false, false, false)]
    [InlineData("on-failure", 3, 0, false, false, true)]
    [InlineData("on-failure:2", 3, 1, false, false, true)]
    [InlineData("on-failure:2", 3, 2, false, false, false)]
    [InlineData("no", 1, 0, false, false, false)]
    public void AnExitRestartsTheContainerByDockersRules(string policy, int exitCode, int restarts, bool stoppedByHand, bool autoRemove, bool expected)
    {
        var (name, max) = policy.Split(':') is [var n, var m] ? (n, int.Parse(m, System.Globalization.CultureInfo.InvariantCulture)) : (policy, 0);
        var record = new ContainerRecord
        {
            Id = new string('a', 64),
            Name = "/x",
            Image = "busybox",
            Created = DateTimeOffset.UnixEpoch,
            Status = new ExitedStatus { ExitCode = exitCode },
            Config = new ContainerConfig { Cmd = ["true"], RestartPolicy = new RestartPolicy(name, max), AutoRemove = autoRemove },
            RestartCount = restarts,
            ManuallyStopped = stoppedByHand,
        };

        Assert.Equal(expected, RestartScheduler.Restarts(record, exitCode));
    }

    [Fact]
    public async Task TheBackOffDoublesForShortRunsAndStartsOverAfterATenSecondRun()
    {
        var id = Exited(runFor: TimeSpan.FromSeconds(1));

        var waited = new List<TimeSpan>();
        for (var round = 0; round < 3; round++)
        {
            waited.Add(await RestartAndTimeAsync(id));
            ExitAgain(id, runFor: TimeSpan.FromSeconds(1));
        }

        _catalog.Transition(id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");
        ExitAgain(id, runFor: TimeSpan.FromSeconds(10));
        waited.Add(await RestartAndTimeAsync(id));

        Assert.Equal([100, 200, 400, 100], waited.Select(w => (int)w.TotalMilliseconds));
        Assert.Equal(4, _catalog.Resolve(id).RestartCount);
    }

    [Fact]
    public async Task AStopInTheBackOffCallsTheRestartOffAndLeavesTheContainerStoppedByHand()
    {
        var id = Exited(runFor: TimeSpan.FromSeconds(1));
        _scheduler.Schedule(_catalog.Resolve(id));
        var restarting = _catalog.Resolve(id).Status.State;
        await TimerArmedAsync();

        var anythingToStop = await _scheduler.SettleAsync(id, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(2));
        var record = _catalog.Resolve(id);

        Assert.Equal(ContainerState.Restarting, restarting);
        Assert.False(anythingToStop);
        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.True(record.ManuallyStopped);
        Assert.Empty(_starts);
        Assert.Null(_runtime.Find(id)!.PendingRestart);
    }

    [Fact]
    public async Task AStopThatComesOnceTheStartBeganWaitsForItAndThenStopsWhatItStarted()
    {
        var id = Exited(runFor: TimeSpan.FromSeconds(1));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _start = async started =>
        {
            entered.SetResult();
            await release.Task;
            await StartRunning(started);
        };
        _scheduler.Schedule(_catalog.Resolve(id));
        await TimerArmedAsync();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        await entered.Task.WaitAsync(Long);

        var settling = _scheduler.SettleAsync(id, CancellationToken.None);
        var waitedForTheStart = !settling.IsCompleted;
        release.SetResult();
        var anythingToStop = await settling.WaitAsync(Long);

        Assert.True(waitedForTheStart);
        Assert.True(anythingToStop);
        Assert.Equal(ContainerState.Running, _catalog.Resolve(id).Status.State);
        Assert.True(_catalog.Resolve(id).ManuallyStopped);
    }

    [Fact]
    public async Task ARestartWhoseStartFailsEndsTheContainerWithExitCode128AndWhy()
    {
        var id = Exited(runFor: TimeSpan.FromSeconds(1));
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _start = _ =>
        {
            failed.SetResult();
            throw PortLayerException.NotFound("No such image: gone:1");
        };
        _scheduler.Schedule(_catalog.Resolve(id));
        await TimerArmedAsync();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        await failed.Task.WaitAsync(Long);

        var status = await RestedAsync(id);

        Assert.Equal(ContainerState.Exited, status.State);
        Assert.Equal(128, status.ExitCode);
        Assert.Equal("No such image: gone:1", status.Error);
    }

    [Fact]
    public void AfterAnEndpointRestartAlwaysComesBackAndUnlessStoppedOnlyIfNotStoppedByHand()
    {
        var always = Exited(runFor: TimeSpan.FromSeconds(1), policy: "always", stoppedByHand: true);
        var unlessStopped = Exited(runFor: TimeSpan.FromSeconds(1), policy: "unless-stopped", stoppedByHand: true);
        var onFailure = Exited(runFor: TimeSpan.FromSeconds(1), policy: "on-failure");

        foreach (var id in new[] { always, unlessStopped, onFailure })
        {
            _scheduler.AfterRecovery(_catalog.Resolve(id));
        }

        Assert.Equal(ContainerState.Restarting, _catalog.Resolve(always).Status.State);
        Assert.False(_catalog.Resolve(always).ManuallyStopped);
        Assert.Equal(ContainerState.Exited, _catalog.Resolve(unlessStopped).Status.State);
        Assert.Equal(ContainerState.Exited, _catalog.Resolve(onFailure).Status.State);
    }

    private string Exited(TimeSpan runFor, string policy = "always", bool stoppedByHand = false)
    {
        var config = new ContainerConfig { Cmd = ["true"], RestartPolicy = new RestartPolicy(policy) };
        var id = _catalog.Create(new NewContainer(null, "busybox", null, config)).Id;
        _catalog.Transition(id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");
        ExitAgain(id, runFor);
        if (stoppedByHand)
        {
            _catalog.Change(id, r => r with { ManuallyStopped = true }, null);
        }

        return id;
    }

    private void ExitAgain(string id, TimeSpan runFor)
    {
        _time.Advance(runFor);
        _catalog.Transition(id, (who, s) => s.Exit(who, 1, _time.GetUtcNow()), "die");
    }

    /// <summary>Schedules a restart and moves the clock 10 ms at a time until the start comes: the back-off it waited.</summary>
    private async Task<TimeSpan> RestartAndTimeAsync(string id)
    {
        var before = _starts.Count;
        _scheduler.Schedule(_catalog.Resolve(id));
        await TimerArmedAsync();
        var waited = TimeSpan.Zero;
        while (true)
        {
            _time.Advance(TimeSpan.FromMilliseconds(10));
            waited += TimeSpan.FromMilliseconds(10);
            if (_time.LiveTimers == 0)
            {
                break;
            }
        }

        await RunningAsync(id);
        Assert.Equal(before + 1, _starts.Count);
        return waited;
    }

    private Task StartRunning(string id)
    {
        lock (_starts)
        {
            _starts.Add(id);
        }

        _catalog.Transition(id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");
        return Task.CompletedTask;
    }

    /// <summary>The back-off's timer exists: it is made on the thread pool, after Schedule returns.</summary>
    private async Task TimerArmedAsync()
    {
        for (var i = 0; i < 3000 && _time.LiveTimers == 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, _time.LiveTimers);
    }

    private async Task RunningAsync(string id)
    {
        for (var i = 0; i < 3000 && _catalog.Resolve(id).Status.State != ContainerState.Running; i++)
        {
            await Task.Delay(10);
        }
    }

    private async Task<ContainerStatus> RestedAsync(string id)
    {
        for (var i = 0; i < 3000 && _catalog.Resolve(id).Status is RestartingStatus; i++)
        {
            await Task.Delay(10);
        }

        return _catalog.Resolve(id).Status;
    }
}
