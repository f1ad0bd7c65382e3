using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Events;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

/// <summary>
/// Healthchecks alone: a real catalog, a clock the test moves, and a run whose tether (and pump) is
/// the test: it reads each probe's Exec frame and ends the probe as it likes.
/// </summary>
public sealed class HealthchecksTests : IAsyncLifetime, IDisposable
{
    private static readonly HealthcheckConfig Check = new() { Test = ["CMD", "check"], Interval = TimeSpan.FromSeconds(30), Timeout = TimeSpan.FromSeconds(5), Retries = 2 };
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private VchStore? _store;
    private ContainerCatalog _catalog = null!;
    private RunningContainer? _running;
    private LoopbackChannel? _channel;
    private string _id = "";

    public async Task InitializeAsync()
    {
        _store = VchStore.Open(_dir.File("vch.db"));
        _catalog = new ContainerCatalog(_store, new EventBus(_time), _time);
        _id = _catalog.Create(new NewContainer("web", "nginx", null, new ContainerConfig { Cmd = ["nginx"], Healthcheck = Check })).Id;
        _catalog.Transition(_id, (who, s) => s.Start(who, _time.GetUtcNow()), "start", alongside: r => r with { Health = new ContainerHealth(ContainerHealth.Starting, 0, []) });

        _channel = await LoopbackChannel.ConnectAsync();
        _running = new RunningContainer(_channel.Host, _id);
        new Healthchecks(_catalog, _time).Start(_catalog.Resolve(_id), _running);
    }

    /// <remarks>xunit calls <see cref="Dispose"/> as well: it does the work.</remarks>
    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _running?.Dispose();
        _channel?.Dispose();
        _store?.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task APassingProbeMakesTheContainerHealthyAndFailuresUpToTheRetriesMakeItUnhealthy()
    {
        var statuses = new List<string>();
        foreach (var exitCode in new[] { 0, 1, 1 })
        {
            var (probe, _) = await NextProbeAsync();
            probe.Append(new OutputChunk(OutputStream.Stdout, "checked\n"u8.ToArray(), _time.GetUtcNow()));
            probe.Finish(exitCode);
            statuses.Add(await HealthChangedAsync(statuses.Count + 1));
        }

        var health = _catalog.Resolve(_id).Health!;
        Assert.Equal([ContainerHealth.Healthy, ContainerHealth.Healthy, ContainerHealth.Unhealthy], statuses);
        Assert.Equal(2, health.FailingStreak);
        Assert.Equal(["checked\n", "checked\n", "checked\n"], health.Log.Select(l => l.Output));
        Assert.Equal([0, 1, 1], health.Log.Select(l => l.ExitCode));
    }

    [Fact]
    public async Task AProbeThatOutlivesItsTimeoutIsKilledAndCountsAsAFailure()
    {
        var (_, session) = await NextProbeAsync();
        await TimersAsync(1); // the probe's deadline
        _time.Advance(Check.Timeout);
        var kill = await GuestReadAsync();
        await HealthChangedAsync(1);

        var result = Assert.Single(_catalog.Resolve(_id).Health!.Log);
        Assert.Equal((FrameType.Signal, session, 9), (kill.Type, kill.Session, Payloads.Int32(kill.Payload)));
        Assert.Equal((-1, "Health check exceeded timeout (5s)"), (result.ExitCode, result.Output));
    }

    [Fact]
    public async Task TheProbesEndWithTheRun()
    {
        await TimersAsync(1);

        _running!.Dispose();
        await TimersAsync(0);
        _time.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(0, _time.LiveTimers);
        Assert.Empty(_catalog.Resolve(_id).Health!.Log);
    }

    /// <summary>Moves the clock to the next probe and returns it as the pump would find it, by its session.</summary>
    private async Task<(ExecSession Probe, uint Session)> NextProbeAsync()
    {
        await TimersAsync(1);
        _time.Advance(Check.Interval);
        var exec = await GuestReadAsync();
        Assert.Equal(FrameType.Exec, exec.Type);
        Assert.Equal(["check"], Payloads.Json(exec.Payload, InteractionJson.Default.ExecSpec).Args);
        return (_running!.Execs[exec.Session], exec.Session);
    }

    private async Task<string> HealthChangedAsync(int results)
    {
        for (var i = 0; i < 3000 && (_catalog.Resolve(_id).Health?.Log.Count ?? 0) < results; i++)
        {
            await Task.Delay(10);
        }

        return _catalog.Resolve(_id).Health!.Status;
    }

    /// <summary>Waits until the loop has armed its timers: it does so on the thread pool.</summary>
    private async Task TimersAsync(int count)
    {
        for (var i = 0; i < 3000 && _time.LiveTimers != count; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(count, _time.LiveTimers);
    }

    private Task<Frame> GuestReadAsync() => _channel!.GuestReadAsync();
}
