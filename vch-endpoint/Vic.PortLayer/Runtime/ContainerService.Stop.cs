using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>kill, stop and rm: each acts on the run it found and waits for that run's end.</summary>
public sealed partial class ContainerService
{
    public async Task KillAsync(string idOrName, string signal, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        record.Status.EnsureKillable(record.Ref);
        var number = Signals.Parse(signal);
        if (!await _restarts.SettleAsync(record.Id, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        if (await SignalCurrentRunAsync(record.Id, number, cancellationToken).ConfigureAwait(false) is { } running)
        {
            if (number == SigKill)
            {
                // As dockerd: a SIGKILL answers once the container has stopped, so inspect right after sees it exited.
                await AwaitRunEndAsync(running, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private const int SigKill = 9;

    /// <summary>
    /// Signals the run the container has once no start is under way: a start holds the VM gate until
    /// its process runs (or it failed), so a stop or kill that races it meets the run it made, as
    /// dockerd's container lock has it, and never a tether still waiting for its spec.
    /// </summary>
    /// <returns>The run signalled; null when the container has none.</returns>
    private async Task<RunningContainer?> SignalCurrentRunAsync(string id, int number, CancellationToken cancellationToken)
    {
        var gate = _runtime.Of(id).VmGate;
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_runtime.RunningOf(id) is not { } running)
            {
                return null;
            }

            await SignalAsync(running, number, cancellationToken).ConfigureAwait(false);
            return running;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Signals the main process of this run (not of a later one a restart made).</summary>
    private async Task SignalAsync(RunningContainer running, int number, CancellationToken cancellationToken)
    {
        try
        {
            await running.Writer.WriteAsync(FrameType.Signal, 0, Payloads.Int32(number), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The channel ended as the signal went: the process ends with its VM, and the pump records that.
        }

        _containers.Transition(running.ContainerId, (_, s) => s, "kill", new Dictionary<string, string> { ["signal"] = number.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Waits for this run's end to be recorded; a VM that does not end within 10 s is powered off.</summary>
    private async Task AwaitRunEndAsync(RunningContainer running, CancellationToken cancellationToken)
    {
        var ended = running.RunEnded.Task;
        if (await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false) != ended && _backend is not null)
        {
            await _backend.PowerOffAsync(running.ContainerId, force: true, cancellationToken).ConfigureAwait(false);
        }

        // A run whose end is not recorded 10 s after its VM was powered off is not waited for longer:
        // the caller answers, and the record follows when the end is read.
        await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Sends the stop signal, waits up to the timeout, then kills: docker stop.</summary>
    /// <param name="signal">The stop signal of this request (<c>docker stop -s</c>); null for the container's own.</param>
    public async Task StopAsync(string idOrName, int? timeoutSeconds, CancellationToken cancellationToken, string? signal = null)
    {
        var record = _containers.Resolve(idOrName);
        if (signal is not null)
        {
            Signals.Parse(signal); // a bad one is refused before anything changes
        }

        record.Status.EnsureStoppable(record.Ref);
        if (!await _restarts.SettleAsync(record.Id, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        record = _containers.Resolve(record.Id);

        if (record.Status is PausedStatus && _runtime.RunningOf(record.Id) is { } paused)
        {
            // A frozen process cannot act on its stop signal: thaw it first, as dockerd does.
            await paused.RequestAsync(FrameType.Unpause, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            _containers.Transition(record.Id, (who, s) => s.Unpause(who), "unpause");
        }

        if (await SignalCurrentRunAsync(record.Id, Signals.Parse(signal ?? record.Config.StopSignal), cancellationToken).ConfigureAwait(false) is { } running)
        {
            // The run this stop found is the one it ends: a restart that comes after is not waited for.
            var ended = running.RunEnded.Task;
            var timeout = TimeSpan.FromSeconds(timeoutSeconds ?? record.Config.StopTimeout ?? 10);
            if (await Task.WhenAny(ended, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false) != ended)
            {
                await SignalAsync(running, SigKill, cancellationToken).ConfigureAwait(false);
            }

            await AwaitRunEndAsync(running, cancellationToken).ConfigureAwait(false);
        }

        _containers.Transition(record.Id, (_, s) => s, "stop");
    }

    /// <param name="cancellationToken">Honoured until the removal begins; a removal that began finishes whether its client waits or not, or the container would stay "removing".</param>
    public async Task RemoveAsync(string idOrName, bool force, CancellationToken cancellationToken, bool removeVolumes = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var record = _containers.Resolve(idOrName);
        record = _containers.Transition(record.Id, (who, s) => s.BeginRemoval(who, force), null);
        var gate = _runtime.Find(record.Id)?.VmGate;
        var held = false;

        // Not the client's token (a removal that began finishes), but a bound: a hypervisor task
        // that never ends leaves the container dead, for another rm, rather than removing for ever.
        using var limit = new CancellationTokenSource(RemovalLimit);
        try
        {
            if (_restarts.CallOff(record.Id, markExited: false).Starting is { } starting)
            {
                // The ContainerVM a restart is starting goes with the container: wait for it to exist, then power it off.
                await starting.WaitAsync(limit.Token).ConfigureAwait(false);
            }

            // A start waiting for its process (a root on an NFS server that does not answer) stops
            // waiting out its 60 s: it is refused (the container is marked for removal) and lets the
            // gate go, and its VM is powered off below.
            _runtime.Find(record.Id)?.SignalRemoval();

            // A start under way (docker start, restart) is let finish making its VM, as dockerd's
            // container lock has it: it made its ContainerVM, which is powered off here, or failed;
            // either way it is done with the container's folder. Starts after it are refused.
            if (gate is not null)
            {
                await gate.WaitAsync(limit.Token).ConfigureAwait(false);
                held = true;
            }

            if (_runtime.RunningOf(record.Id) is { } running)
            {
                if (_backend is not null)
                {
                    await _backend.ForceOffAsync(record.Id, limit.Token).ConfigureAwait(false);
                }

                await Task.WhenAny(running.RunEnded.Task, Task.Delay(TimeSpan.FromSeconds(10), limit.Token)).ConfigureAwait(false);
            }

            await _teardown.ForgetAsync(record, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // As dockerd's removal error: the container is dead, and only another rm is left to it.
            MarkDeadIfKnown(record.Id, ex.Message);
            throw;
        }
        finally
        {
            if (held)
            {
                gate!.Release();
            }
        }

        if (removeVolumes)
        {
            // rm -v: the container's anonymous volumes go with it; named ones stay, as on dockerd.
            foreach (var mount in record.Config.Mounts.Where(m => _volumes.Find(m.Name) is { Anonymous: true }))
            {
                try
                {
                    _volumes.Remove(mount.Name, force: true);
                }
                catch (PortLayerException ex) when (ex.Kind == ErrorKind.Conflict)
                {
                    // Another container mounts it too: it stays.
                }
            }
        }
    }

    /// <summary>How long a removal may take once it began, waits for a start under way included.</summary>
    private static readonly TimeSpan RemovalLimit = TimeSpan.FromMinutes(5);

    private void MarkDeadIfKnown(string id, string error)
    {
        try
        {
            _containers.Transition(id, (_, s) => s.MarkDead(error), null);
        }
        catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
        {
            // Forgotten before the step that failed: nothing is left to mark.
        }
    }
}
