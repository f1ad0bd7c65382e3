using Microsoft.Extensions.Logging;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// Docker's restart policies: whether an exit brings a container back, the back-off before it comes
/// (100 ms, doubling to a minute, reset by a run of 10 s), and the restart in waiting that a stop, a
/// kill or an <c>rm</c> calls off, or waits for once its start has begun.
/// </summary>
/// <param name="startByPolicy">Starts the container again; a start by policy keeps a stop that came while it started.</param>
internal sealed partial class RestartScheduler(ContainerCatalog containers, ContainerRuntimeTable runtime, TimeProvider time, Func<string, Task> startByPolicy, ILogger logger)
{
    /// <summary>Docker's rules for whether an exit brings the container back.</summary>
    public static bool Restarts(ContainerRecord record, int exitCode) =>
        !record.ManuallyStopped && !record.Config.AutoRemove && record.Config.RestartPolicy switch
        {
            { Name: "always" or "unless-stopped" } => true,
            { Name: "on-failure", MaximumRetryCount: var max } => exitCode != 0 && (max == 0 || record.RestartCount < max),
            _ => false,
        };

    /// <summary>Moves the container to restarting and starts it again after the back-off.</summary>
    public void Schedule(ContainerRecord record)
    {
        var ranLong = record.Status.StartedAt is { } started && record.Status.FinishedAt is { } finished && finished - started >= TimeSpan.FromSeconds(10);
        var state = runtime.Of(record.Id);
        var streak = state.NextRestartStreak(ranLong);
        var delay = TimeSpan.FromMilliseconds(Math.Min(60_000, 100 * Math.Pow(2, streak)));
        containers.Transition(record.Id, (who, s) => s.BeginRestart(who), null, alongside: r => r with { RestartCount = r.RestartCount + 1 });
        var pending = new PendingRestart();
        state.SetPendingRestart(pending);
        _ = Task.Run(() => RestartAfterAsync(record.Id, delay, state, pending), CancellationToken.None);
    }

    /// <summary>
    /// A stop, kill or removal of a container waiting for its restart: a restart still in its back-off is called
    /// off (true); one whose start is under way cannot be, so the caller gets that start to wait for.
    /// </summary>
    /// <param name="markExited">A stop or kill: the container rests exited, stopped by hand.</param>
    public (bool CalledOff, Task? Starting) CallOff(string id, bool markExited)
    {
        if (runtime.Find(id) is not { PendingRestart: { } pending } state)
        {
            return (false, null);
        }

        if (pending.TryCallOff() is { } starting)
        {
            return (false, starting);
        }

        state.ClearPendingRestart(pending);
        if (markExited)
        {
            containers.Transition(id, (who, s) => s is RestartingStatus ? s.Exit(who, s.ExitCode, s.FinishedAt ?? time.GetUtcNow(), s.Error) : s, "stop", alongside: r => r with { ManuallyStopped = true });
        }

        return (true, null);
    }

    /// <summary>
    /// A stop or kill that meets a restart by policy: the restart is called off, or, when its ContainerVM is already
    /// starting, the stop waits for that start and then acts on what it started. False when nothing is left to stop.
    /// </summary>
    public async Task<bool> SettleAsync(string id, CancellationToken cancellationToken)
    {
        // Set first: a start by policy keeps it, and the exit this stop causes must not bring the container back.
        containers.Change(id, r => r with { ManuallyStopped = true }, null);
        var (calledOff, starting) = CallOff(id, markExited: true);
        if (calledOff)
        {
            return false;
        }

        if (starting is not null)
        {
            await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
            return containers.Resolve(id).Status.IsRunning;
        }

        return true;
    }

    /// <summary>After an endpoint restart: always (and unless-stopped, if not stopped by hand) come back, as after a daemon restart.</summary>
    public void AfterRecovery(ContainerRecord record)
    {
        var wanted = record.Config.RestartPolicy.Name == "always" || (record.Config.RestartPolicy.Name == "unless-stopped" && !record.ManuallyStopped);
        if (wanted && record.Status is ExitedStatus)
        {
            containers.Change(record.Id, r => r with { ManuallyStopped = false }, null);
            Schedule(containers.Resolve(record.Id));
        }
    }

    private async Task RestartAfterAsync(string id, TimeSpan delay, ContainerRuntimeState state, PendingRestart pending)
    {
        try
        {
            await Task.Delay(delay, time, pending.Cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (!pending.TryBeginStart())
        {
            return;
        }

        try
        {
            await startByPolicy(id).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PortLayerException or IOException or InvalidOperationException)
        {
            Log.RestartFailed(logger, id, ex.Message);
            containers.Transition(id, (who, s) => s is RestartingStatus ? s.Exit(who, 128, time.GetUtcNow(), ex.Message) : s, "die",
                new Dictionary<string, string> { ["exitCode"] = "128" });
        }
        finally
        {
            state.ClearPendingRestart(pending);
            pending.EndStart();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "container {Id} could not be restarted by its policy: {Reason}")]
        public static partial void RestartFailed(ILogger logger, string id, string reason);
    }
}
