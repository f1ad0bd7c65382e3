using System.Text;
using Vic.Interaction;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// Healthchecks: a probe runs in the ContainerVM as an exec session every interval while the run it
/// was started for lasts; its results move the container's health (starting, healthy, unhealthy)
/// and each change is a <c>health_status</c> event.
/// </summary>
internal sealed class Healthchecks(ContainerCatalog containers, TimeProvider time)
{
    /// <summary>Docker keeps this much of a probe's output in State.Health.Log.</summary>
    private const int ProbeOutputLimit = 4096;

    /// <summary>Probes <paramref name="running"/> on the container's schedule until that run ends.</summary>
    public void Start(ContainerRecord record, RunningContainer running)
    {
        if (record.Config.Healthcheck is not { Disabled: false } check)
        {
            return;
        }

        var startedAt = time.GetUtcNow();
        _ = Task.Run(() => ProbeLoopAsync(record.Id, check, running, startedAt), CancellationToken.None);
    }

    private async Task ProbeLoopAsync(string id, HealthcheckConfig check, RunningContainer running, DateTimeOffset startedAt)
    {
        try
        {
            while (true)
            {
                await Task.Delay(check.EffectiveInterval, time, running.Ending).ConfigureAwait(false);
                var result = await ProbeAsync(check, running).ConfigureAwait(false);
                if (running.Ending.IsCancellationRequested)
                {
                    return;
                }

                var inStartPeriod = result.Start - startedAt < check.StartPeriod;
                var before = containers.Resolve(id).Health?.Status;
                var after = containers.Change(id, r => r with { Health = (r.Health ?? new ContainerHealth(ContainerHealth.Starting, 0, [])).With(result, check, inStartPeriod) }, null);
                if (after.Health is { } health && health.Status != before)
                {
                    containers.Transition(id, (_, s) => s, $"health_status: {health.Status}");
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The container stopped (its channel closed as a probe went out): so do its probes.
        }
        catch (Vic.PortLayer.Errors.PortLayerException)
        {
            // Removed while a probe ran.
        }
    }

    /// <summary>One probe: the test command as an exec session, killed if it outlives the timeout.</summary>
    private async Task<HealthProbeResult> ProbeAsync(HealthcheckConfig check, RunningContainer running)
    {
        var start = time.GetUtcNow();
        var probe = new ExecSession("health", running.ContainerId, new ExecOptions(check.Command, [], "", "", Tty: false, AttachStdin: false, AttachStdout: true, AttachStderr: true));
        probe.Session = running.Tether.NextSession();
        running.Execs[probe.Session] = probe;
        probe.MarkRunning(keepOutput: true);
        var output = new StringBuilder();
        try
        {
            await running.Writer.WriteAsync(FrameType.Exec, probe.Session, Payloads.Json(probe.Spec, InteractionJson.Default.ExecSpec), running.Ending).ConfigureAwait(false);
            using var deadline = new CancellationTokenSource(check.EffectiveTimeout, time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(running.Ending, deadline.Token);
            try
            {
                await foreach (var chunk in probe.Output.ReadAllAsync(timeout.Token).ConfigureAwait(false))
                {
                    if (output.Length < ProbeOutputLimit)
                    {
                        output.Append(Encoding.UTF8.GetString(chunk.Data));
                    }
                }
            }
            catch (OperationCanceledException) when (!running.Ending.IsCancellationRequested)
            {
                await running.Writer.WriteAsync(FrameType.Signal, probe.Session, Payloads.Int32(9), running.Ending).ConfigureAwait(false);
                return new HealthProbeResult(start, time.GetUtcNow(), -1, $"Health check exceeded timeout ({check.EffectiveTimeout.TotalSeconds:0}s)");
            }
        }
        catch (IOException)
        {
            return new HealthProbeResult(start, time.GetUtcNow(), -1, "the ContainerVM went away during the health check");
        }

        var text = output.ToString();
        return new HealthProbeResult(start, time.GetUtcNow(), probe.ExitCode ?? -1, text.Length > ProbeOutputLimit ? text[..ProbeOutputLimit] : text);
    }
}
