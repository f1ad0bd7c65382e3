using Microsoft.Extensions.Logging;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// What follows the end of a container's run: its exec sessions, stdin and log closed, the exit
/// recorded (the <c>die</c> event, the exit code for those waiting), and then a <c>--rm</c>
/// container removed or a restart by policy scheduled.
/// </summary>
internal sealed partial class RunEnding(ContainerCatalog containers, ContainerRuntimeTable runtime, ContainerNetworking networking, RestartScheduler restarts, ContainerTeardown teardown, TimeProvider time, ILogger logger)
{
    /// <param name="exitCode">The main process's exit code; null when the run ended without one (its VM died).</param>
    /// <param name="fault">Why the run ended without an exit, when it is known (a broken protocol).</param>
    public async Task FinishAsync(RunningContainer running, ContainerLog log, int? exitCode, string? fault = null)
    {
        var state = runtime.Find(running.ContainerId);
        state?.ClearRunning(running);
        networking.LeaveBridge(running.ContainerId);
        networking.Unpublish(running.ContainerId);
        foreach (var exec in running.Execs.Values)
        {
            // The container's end is every exec's end: dockerd reports them killed.
            exec.Finish(137);
        }

        state?.CloseStdin();
        running.Dispose();
        log.Close();
        var code = exitCode ?? 137;
        var error = exitCode is not null ? "" : fault ?? "the ContainerVM stopped unexpectedly";
        var record = containers.Resolve(running.ContainerId);
        if (running.OomKilled)
        {
            // dockerd's order: the oom event, then the die.
            containers.Transition(record.Id, (_, s) => s, "oom");
        }

        if (record.Status is RunningStatus or PausedStatus or RestartingStatus)
        {
            record = containers.Transition(
                record.Id,
                (who, s) => s.Exit(who, code, time.GetUtcNow(), error) with { OomKilled = running.OomKilled },
                "die",
                ExitAttributes(code));
        }
        else if (record.Status is RemovingStatus)
        {
            // rm -f ends the process: dockerd reports its death before the destroy.
            containers.Transition(record.Id, (_, s) => s, "die", ExitAttributes(code));
        }

        state?.ReportExit(code);
        Log.Exited(logger, record.Id, code);
        if (record.Config.AutoRemove && record.Status is not RemovingStatus)
        {
            await teardown.AutoRemoveAsync(record.Id).ConfigureAwait(false);
        }
        else if (record.Status is ExitedStatus && RestartScheduler.Restarts(record, code))
        {
            restarts.Schedule(record);
        }
    }

    /// <summary>The container's VM went while nobody watched (the endpoint was down): Docker's answer for a process killed with its host.</summary>
    public void MarkLost(string id)
    {
        runtime.Of(id).Log.Close();
        var record = containers.Resolve(id);
        if (record.Status is not (RunningStatus or PausedStatus))
        {
            return;
        }

        containers.Transition(id, (who, s) => s.Exit(who, 137, time.GetUtcNow(), "the ContainerVM stopped while the endpoint was away"), "die", ExitAttributes(137));
        Log.Exited(logger, id, 137);
    }

    private static Dictionary<string, string> ExitAttributes(int code) =>
        new() { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static partial class Log
    {
        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "container {Id} exited with {Code}")]
        public static partial void Exited(ILogger logger, string id, int code);
    }
}
