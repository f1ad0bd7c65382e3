using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// The one reader of a run's tether channel: the main process's output into the log, its start and
/// exit, the exec sessions' output and exits, and the State a tether reports on reconnection. When
/// the channel ends (an exit read, the VM gone, the protocol broken) it hands the run to
/// <see cref="RunEnding"/>, unless the run was abandoned (a files VM, a connection given up on).
/// </summary>
internal sealed partial class RunPump(ContainerCatalog containers, ContainerRuntimeTable runtime, IVmPower? power, RunEnding ending, TimeProvider time, ILogger logger)
{
    public async Task PumpAsync(RunningContainer running, ContainerLog log)
    {
        var (exitCode, stepExit, brokeProtocol) = await ReadAsync(running, log).ConfigureAwait(false);

        // Nothing reads the channel from here: a handshake or request still waiting learns it at once.
        running.Tether.Dispose();

        // A start waiting for the process to run learns it will not, and settles: the exit waits for that.
        running.MainStarted.TrySetResult(0);
        await running.StartSettled.Task.ConfigureAwait(false);
        exitCode ??= stepExit;
        if (runtime.Find(running.ContainerId)?.BuildStep is { } unfinished)
        {
            unfinished.TrySetResult(exitCode ?? 137);
        }

        try
        {
            if (!running.Abandoned)
            {
                await ending.FinishAsync(running, log, exitCode, brokeProtocol).ConfigureAwait(false);
            }
            else
            {
                // Nobody else will: whoever still waits on this channel learns it is gone.
                running.Dispose();
            }
        }
        finally
        {
            running.RunEnded.TrySetResult();
        }
    }

    /// <returns>The main process's exit code (null if none came), a build step's exit (its VM stays on), and why the guest was stopped if it broke the protocol.</returns>
    private async Task<(int? ExitCode, int? StepExit, string? BrokeProtocol)> ReadAsync(RunningContainer running, ContainerLog log)
    {
        int? exitCode = null;
        int? stepExit = null;
        try
        {
            while (exitCode is null && await running.Tether.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { } frame)
            {
                if (frame.Session == Frame.MainSession || frame.Type == FrameType.State)
                {
                    (exitCode, var step) = await OnMainFrameAsync(running, log, frame).ConfigureAwait(false);
                    stepExit ??= step;
                }
                else
                {
                    OnExecFrame(running, frame);
                }
            }
        }
        catch (Exception ex) when (ex is (IOException and not ProtocolException) or ObjectDisposedException)
        {
            // The ContainerVM went away without a word: treated as a process killed with it.
        }
        catch (Exception ex)
        {
            // A guest that breaks the protocol (a bad frame, a payload that does not parse or makes no
            // sense) is not trusted with another frame: it is stopped, and its container ends as a
            // process killed with its VM, with the reason said. The pump must end whatever came.
            Log.TetherBrokeProtocol(logger, running.ContainerId, ex.Message);
            if (!running.Abandoned && power is not null)
            {
                await PowerOffAfterFaultAsync(power, running.ContainerId).ConfigureAwait(false);
            }

            return (exitCode, stepExit, $"its tether broke the protocol ({ex.Message}); the ContainerVM was powered off");
        }

        return (exitCode, stepExit, null);
    }

    /// <returns>The main process's exit code once it is known, and a build step's exit.</returns>
    private async Task<(int? ExitCode, int? StepExit)> OnMainFrameAsync(RunningContainer running, ContainerLog log, Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Stdout:
                log.Append(OutputStream.Stdout, frame.Payload.Span, time.GetUtcNow());
                break;
            case FrameType.Stderr:
                log.Append(OutputStream.Stderr, frame.Payload.Span, time.GetUtcNow());
                break;
            case FrameType.Error:
                log.Append(OutputStream.Stderr, Payloads.Text($"vic: {Payloads.Text(frame.Payload)}\n"), time.GetUtcNow());
                break;
            case FrameType.Started:
                var main = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage);
                if (main.Timings is { } t)
                {
                    Log.GuestStart(logger, running.ContainerId, t.NetworkMs, t.DisksMs, t.RootMs, t.ProcessMs, t.RootSteps ?? "", t.ProcessSteps ?? "");
                }

                running.MainStarted.TrySetResult(main.Pid);
                break;
            case FrameType.OomKilled:
                running.OomKilled = true;
                break;
            case FrameType.Exit:
                running.MainStarted.TrySetResult(0);
                var code = Payloads.Int32(frame.Payload);
                if (runtime.Find(running.ContainerId)?.BuildStep is { } step)
                {
                    // A build step's VM stays on for its layer to be read: the exit is the VM's end.
                    step.TrySetResult(code);
                    return (null, code);
                }

                return (code, null);
            case FrameType.State:
                var report = Payloads.Json(frame.Payload, InteractionJson.Default.StateReport);
                running.Tether.ContinueSessionsAfter(report.Sessions.Count == 0 ? 0 : report.Sessions.Max(s => s.Session));
                if (report.Sessions.FirstOrDefault(s => s.Session == Frame.MainSession)?.ExitCode is { } ended)
                {
                    // Still on with its process ended: a build step's VM the endpoint lost while it ran.
                    await running.PowerOffQuietlyAsync().ConfigureAwait(false);
                    return (ended, null);
                }

                break;
        }

        return (null, null);
    }

    private void OnExecFrame(RunningContainer running, Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Stdout or FrameType.Stderr when running.Execs.TryGetValue(frame.Session, out var exec):
                exec.Append(new OutputChunk(frame.Type == FrameType.Stdout ? OutputStream.Stdout : OutputStream.Stderr, frame.Payload.ToArray(), time.GetUtcNow()));
                break;
            case FrameType.Started when running.Execs.TryGetValue(frame.Session, out var started):
                started.Pid = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage).Pid;
                break;
            case FrameType.Error when running.Execs.TryRemove(frame.Session, out var failed):
                failed.Append(new OutputChunk(OutputStream.Stderr, Payloads.Text($"{Payloads.Text(frame.Payload)}\n"), time.GetUtcNow()));
                failed.Finish(126);
                break;
            case FrameType.Exit when running.Execs.TryRemove(frame.Session, out var ended):
                ended.Finish(Payloads.Int32(frame.Payload));
                containers.Transition(running.ContainerId, (_, s) => s, "exec_die", new Dictionary<string, string> { ["execID"] = ended.Id, ["exitCode"] = ended.ExitCode!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                break;
        }
    }

    private async Task PowerOffAfterFaultAsync(IVmPower power, string id)
    {
        try
        {
            await power.PowerOffAsync(id, force: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PortLayerException or IOException)
        {
            Log.TetherBrokeProtocol(logger, id, $"and its ContainerVM could not be powered off: {ex.Message}");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "container {Id}: in the guest, from the spec: network {NetworkMs:0} ms, disks seen {DisksMs:0} ms, root made {RootMs:0} ms, program running {ProcessMs:0} ms (the root: {RootSteps}; then: {ProcessSteps})")]
        public static partial void GuestStart(ILogger logger, string id, double networkMs, double disksMs, double rootMs, double processMs, string rootSteps, string processSteps);

        [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "container {Id}: its tether broke the protocol: {Reason}")]
        public static partial void TetherBrokeProtocol(ILogger logger, string id, string reason);
    }
}
