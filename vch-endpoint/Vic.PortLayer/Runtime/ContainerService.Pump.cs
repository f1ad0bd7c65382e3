using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>The reader of a tether's channel, and the exit it records.</summary>
public sealed partial class ContainerService
{
    private async Task PumpAsync(RunningContainer running, ContainerLog log)
    {
        int? exitCode = null;
        int? stepExit = null;
        string? brokeProtocol = null;
        try
        {
            while (exitCode is null && await running.Tether.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { } frame)
            {
                switch (frame.Type)
                {
                    case FrameType.Stdout when frame.Session == 0:
                        log.Append(OutputStream.Stdout, frame.Payload.Span, _time.GetUtcNow());
                        break;
                    case FrameType.Stderr when frame.Session == 0:
                        log.Append(OutputStream.Stderr, frame.Payload.Span, _time.GetUtcNow());
                        break;
                    case FrameType.Error when frame.Session == 0:
                        log.Append(OutputStream.Stderr, Payloads.Text($"vic: {Payloads.Text(frame.Payload)}\n"), _time.GetUtcNow());
                        break;
                    case FrameType.Started when frame.Session == 0:
                        var main = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage);
                        if (main.Timings is { } t)
                        {
                            Log.GuestStart(_logger, running.ContainerId, t.NetworkMs, t.DisksMs, t.RootMs, t.ProcessMs, t.RootSteps ?? "");
                        }

                        running.MainStarted.TrySetResult(main.Pid);
                        break;
                    case FrameType.Exit when frame.Session == 0:
                        running.MainStarted.TrySetResult(0);
                        if (_runtime.Find(running.ContainerId)?.BuildStep is { } step)
                        {
                            // A build step's VM stays on for its layer to be read: the exit is the VM's end.
                            step.TrySetResult(Payloads.Int32(frame.Payload));
                            stepExit = Payloads.Int32(frame.Payload);
                            break;
                        }

                        exitCode = Payloads.Int32(frame.Payload);
                        break;
                    case FrameType.State:
                        var report = Payloads.Json(frame.Payload, InteractionJson.Default.StateReport);
                        running.Tether.ContinueSessionsAfter(report.Sessions.Count == 0 ? 0 : report.Sessions.Max(s => s.Session));
                        exitCode ??= report.Sessions.FirstOrDefault(s => s.Session == Frame.MainSession)?.ExitCode;
                        if (exitCode is not null)
                        {
                            // Still on with its process ended: a build step's VM the endpoint lost while it ran.
                            await PowerOffQuietlyAsync(running).ConfigureAwait(false);
                        }

                        break;
                    case FrameType.Stdout or FrameType.Stderr when running.Execs.TryGetValue(frame.Session, out var exec):
                        exec.Append(new OutputChunk(frame.Type == FrameType.Stdout ? OutputStream.Stdout : OutputStream.Stderr, frame.Payload.ToArray(), _time.GetUtcNow()));
                        break;
                    case FrameType.Started when running.Execs.TryGetValue(frame.Session, out var started):
                        started.Pid = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage).Pid;
                        break;
                    case FrameType.Error when running.Execs.TryGetValue(frame.Session, out var failed):
                        failed.Append(new OutputChunk(OutputStream.Stderr, Payloads.Text($"{Payloads.Text(frame.Payload)}\n"), _time.GetUtcNow()));
                        failed.Finish(126);
                        running.Execs.TryRemove(frame.Session, out _);
                        break;
                    case FrameType.Exit when running.Execs.TryRemove(frame.Session, out var ended):
                        ended.Finish(Payloads.Int32(frame.Payload));
                        _containers.Transition(running.ContainerId, (_, s) => s, "exec_die", new Dictionary<string, string> { ["execID"] = ended.Id, ["exitCode"] = ended.ExitCode!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is (IOException and not ProtocolException) or ObjectDisposedException)
        {
            // The ContainerVM went away without a word: treated below as a process killed with it.
        }
        catch (Exception ex)
        {
            // A guest that breaks the protocol (a bad frame, a payload that does not parse or makes no
            // sense) is not trusted with another frame: it is stopped, and its container ends as a
            // process killed with its VM, with the reason said. The pump must end whatever came.
            brokeProtocol = $"its tether broke the protocol ({ex.Message}); the ContainerVM was powered off";
            Log.TetherBrokeProtocol(_logger, running.ContainerId, ex.Message);
            if (!running.Abandoned && _backend is not null)
            {
                await PowerOffAfterFaultAsync(running.ContainerId).ConfigureAwait(false);
            }
        }

        // Nothing reads the channel from here: a handshake or request still waiting learns it at once.
        running.Tether.Dispose();

        // A start waiting for the process to run learns it will not, and settles: the exit waits for that.
        running.MainStarted.TrySetResult(0);
        await running.StartSettled.Task.ConfigureAwait(false);
        exitCode ??= stepExit;
        if (_runtime.Find(running.ContainerId)?.BuildStep is { } unfinished)
        {
            unfinished.TrySetResult(exitCode ?? 137);
        }

        try
        {
            if (!running.Abandoned)
            {
                await FinishAsync(running, log, exitCode, brokeProtocol).ConfigureAwait(false);
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

    private static async Task PowerOffQuietlyAsync(RunningContainer running)
    {
        try
        {
            await running.Writer.WriteAsync(FrameType.PowerOff, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The ContainerVM went by itself: nothing is left to power off.
        }
    }

    private async Task PowerOffAfterFaultAsync(string id)
    {
        try
        {
            await _backend!.PowerOffAsync(id, force: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PortLayerException or IOException)
        {
            Log.TetherBrokeProtocol(_logger, id, $"and its ContainerVM could not be powered off: {ex.Message}");
        }
    }

    /// <param name="fault">Why the run ended without an exit, when it is known (a broken protocol).</param>
    private async Task FinishAsync(RunningContainer running, ContainerLog log, int? exitCode, string? fault = null)
    {
        var state = _runtime.Find(running.ContainerId);
        state?.ClearRunning(running);
        _fabric?.Leave(running.ContainerId);
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
        var record = _containers.Resolve(running.ContainerId);
        if (record.Status is RunningStatus or PausedStatus or RestartingStatus)
        {
            record = _containers.Transition(
                record.Id,
                (who, s) => s.Exit(who, code, _time.GetUtcNow(), error),
                "die",
                new Dictionary<string, string> { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        else if (record.Status is RemovingStatus)
        {
            // rm -f ends the process: dockerd reports its death before the destroy.
            _containers.Transition(record.Id, (_, s) => s, "die", new Dictionary<string, string> { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        state?.ReportExit(code);
        Log.Exited(_logger, record.Id, code);
        if (record.Config.AutoRemove && record.Status is not RemovingStatus)
        {
            var removing = _containers.Transition(record.Id, (who, s) => s.BeginRemoval(who, force: true), null);
            await ForgetAsync(removing, CancellationToken.None).ConfigureAwait(false);
        }
        else if (record.Status is ExitedStatus && RestartScheduler.Restarts(record, code))
        {
            _restarts.Schedule(record);
        }
    }
}
