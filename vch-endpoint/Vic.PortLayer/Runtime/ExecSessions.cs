using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// docker exec: sessions made for a running container, started in its ContainerVM on the session
/// number its tether connection hands out, their stdin relayed and their TTY resized. Their output
/// and exit come back through the container's pump, which finds them by session.
/// </summary>
internal sealed class ExecSessions(ContainerCatalog containers, ContainerRuntimeTable runtime)
{
    /// <summary>Prepares a <c>docker exec</c> in a running container; it runs when started.</summary>
    public ExecSession Create(string idOrName, ExecOptions options)
    {
        var record = containers.Resolve(idOrName);
        if (runtime.RunningOf(record.Id) is null || record.Status is not RunningStatus)
        {
            throw PortLayerException.Conflict(record.Status is PausedStatus ? $"Container {record.Id} is paused, unpause the container before exec" : $"Container {record.Id} is not running");
        }

        if (options.Args.Count == 0)
        {
            throw PortLayerException.InvalidParameter("No exec command specified");
        }

        var exec = new ExecSession(Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), record.Id, options);
        runtime.AddExec(exec);
        containers.Transition(record.Id, (_, s) => s, $"exec_create: {string.Join(' ', options.Args)}", new Dictionary<string, string> { ["execID"] = exec.Id });
        return exec;
    }

    public ExecSession Find(string execId) =>
        runtime.FindExec(execId) ?? throw PortLayerException.NotFound($"No such exec instance: {execId}");

    /// <summary>
    /// The exec session if it may start now: one that has not run, in a container that runs. A
    /// hijacking caller asks this before it answers 101, so that a refusal is still an HTTP error.
    /// </summary>
    public ExecSession Startable(string execId)
    {
        var exec = Find(execId);
        if (exec.Running || exec.ExitCode is not null)
        {
            throw PortLayerException.Conflict($"Error: Exec command {execId} has already run");
        }

        if (runtime.RunningOf(exec.ContainerId) is null)
        {
            throw PortLayerException.Conflict($"Container {exec.ContainerId} is not running");
        }

        return exec;
    }

    /// <summary>Starts an exec session in its container's VM.</summary>
    /// <param name="detached">Nobody reads its output (docker exec -d): none is kept.</param>
    public async Task StartAsync(string execId, bool detached, CancellationToken cancellationToken)
    {
        var exec = Startable(execId);
        if (runtime.RunningOf(exec.ContainerId) is not { } running)
        {
            throw PortLayerException.Conflict($"Container {exec.ContainerId} is not running");
        }

        exec.Session = running.Tether.NextSession();
        running.Execs[exec.Session] = exec;
        exec.MarkRunning(keepOutput: !detached);
        try
        {
            await running.Writer.WriteAsync(FrameType.Exec, exec.Session, Payloads.Json(exec.Spec, InteractionJson.Default.ExecSpec), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or IOException)
        {
            // The main process ended as the exec went: dockerd's answer for a container that stopped.
            running.Execs.TryRemove(exec.Session, out _);
            exec.Finish(126);
            throw PortLayerException.Conflict($"Container {exec.ContainerId} is not running");
        }
        containers.Transition(exec.ContainerId, (_, s) => s, $"exec_start: {string.Join(' ', exec.Options.Args)}", new Dictionary<string, string> { ["execID"] = exec.Id });
        if (exec.Options.AttachStdin)
        {
            _ = Task.Run(() => RelayStdinAsync(running, exec), CancellationToken.None);
        }
    }

    public async Task ResizeAsync(string execId, int rows, int columns, CancellationToken cancellationToken)
    {
        var exec = Find(execId);
        if (runtime.RunningOf(exec.ContainerId) is { } running && exec.Running)
        {
            try
            {
                await running.Writer.WriteAsync(FrameType.Resize, exec.Session, Payloads.Size(rows, columns), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or IOException)
            {
                // The session's container ended as the resize went: there is nothing left to resize.
            }
        }
    }

    private static async Task RelayStdinAsync(RunningContainer running, ExecSession exec)
    {
        try
        {
            await foreach (var data in exec.StdinQueue.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (data is null)
                {
                    await running.Writer.WriteAsync(FrameType.StdinClose, exec.Session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                    return;
                }

                await running.Writer.WriteChunkedAsync(FrameType.Stdin, exec.Session, data, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The container's VM went: the session ends with it.
        }
    }
}
