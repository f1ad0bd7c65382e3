using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>What <c>docker update</c> may change; null leaves a setting as it is.</summary>
public sealed record ContainerUpdate(long? MemoryBytes, int? Cpus, RestartPolicy? RestartPolicy)
{
    /// <summary>The CPU options as this update gave them (inspect shows them); null leaves them as they were.</summary>
    public CpuRequest? CpuAsked { get; init; }
}

/// <summary>What <c>docker container prune</c> removed.</summary>
public sealed record PruneResult(IReadOnlyList<string> Removed, long SpaceReclaimed);

/// <summary>Restart (by hand and by policy), rename, update and prune.</summary>
public sealed partial class ContainerService
{
    /// <summary>docker restart: stop (if running) and start again.</summary>
    public async Task RestartAsync(string idOrName, int? timeoutSeconds, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        if (record.Status is PausedStatus)
        {
            await UnpauseAsync(record.Id, cancellationToken).ConfigureAwait(false);
        }

        if (record.Status.IsRunning)
        {
            await StopAsync(record.Id, timeoutSeconds, cancellationToken).ConfigureAwait(false);
        }

        await StartAsync(record.Id, cancellationToken).ConfigureAwait(false);
        _containers.Transition(record.Id, (_, s) => s, "restart");
    }

    public void Rename(string idOrName, string newName) => _containers.Rename(idOrName, newName);

    /// <summary>docker update: the size applies to a running ContainerVM where the backend can resize one, else at the next start.</summary>
    public async Task UpdateAsync(string idOrName, ContainerUpdate update, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        if (update.RestartPolicy is { Name: not "no" } && record.Config.AutoRemove)
        {
            throw PortLayerException.InvalidParameter("Restart policy cannot be updated because AutoRemove is enabled for the container");
        }

        var config = record.Config with
        {
            MemoryBytes = update.MemoryBytes ?? record.Config.MemoryBytes,
            Cpus = update.Cpus ?? record.Config.Cpus,
            RestartPolicy = update.RestartPolicy ?? record.Config.RestartPolicy,
            CpuAsked = update.CpuAsked is { } asked ? MergeCpu(record.Config.CpuAsked, asked) : record.Config.CpuAsked,
        };
        // What the VM gets decides, not how it was asked for: -c 2 and -c 3 are both one vCPU.
        var (now, wanted) = (ResourcesFor(record.Config), ResourcesFor(config));
        if (wanted != now && _runtime.RunningOf(record.Id) is { } running && _backend is not null)
        {
            if (wanted.Cpus == now.Cpus && wanted.MemoryBytes < now.MemoryBytes)
            {
                // Less memory than the VM has: its processes are held to it by a cgroup in the guest,
                // as runc holds a container's; the VM has the new size from its next start.
                await running.RequestAsync(FrameType.Limits, Payloads.Json(new LimitsSpec(wanted.MemoryBytes), InteractionJson.Default.LimitsSpec), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _backend.ReconfigureAsync(record.Id, wanted, cancellationToken).ConfigureAwait(false);
            }
        }

        _containers.Change(record.Id, r => r with { Config = config }, "update");
    }

    /// <summary>An update's CPU options over the container's: the ones it sets (non-zero) replace theirs.</summary>
    private static CpuRequest MergeCpu(CpuRequest was, CpuRequest update) => new(
        update.NanoCpus != 0 ? update.NanoCpus : was.NanoCpus,
        update.Shares != 0 ? update.Shares : was.Shares,
        update.Quota != 0 ? update.Quota : was.Quota,
        update.Period != 0 ? update.Period : was.Period);

    /// <summary>Removes every stopped container that matches; running ones are never touched.</summary>
    public async Task<PruneResult> PruneAsync(Func<ContainerRecord, bool> matches, CancellationToken cancellationToken)
    {
        var removed = new List<string>();
        long reclaimed = 0;
        foreach (var record in _containers.List().Where(r => r.Status is ExitedStatus or CreatedStatus or DeadStatus && matches(r)))
        {
            var size = DiskUsage(record.Id);
            try
            {
                await RemoveAsync(record.Id, force: false, cancellationToken).ConfigureAwait(false);
                removed.Add(record.Id);
                reclaimed += size;
            }
            catch (PortLayerException)
            {
                // Started or removed meanwhile: prune skips it, as dockerd does.
            }
        }

        _containers.PublishPrune(reclaimed);
        return new PruneResult(removed, reclaimed);
    }

    /// <summary>The bytes a container's own files take on the datastore: its scratch disk and its log.</summary>
    public long DiskUsage(string id)
    {
        var folder = new DirectoryInfo(Path.Combine(ContainersDirectory, id));
        return folder.Exists ? folder.EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
    }

    /// <summary>The CPUs and memory a container's ContainerVM gets: what it asked for, else the VCH's default.</summary>
    public static Compute.VmResources ResourcesFor(ContainerConfig config) =>
        new(Math.Max(Math.Max(1, config.Cpus), config.Confinement.CpusNeeded), config.MemoryBytes > 0 ? config.MemoryBytes : DefaultMemoryBytes);

    /// <summary>Docker's rules for whether an exit brings the container back.</summary>
    private static bool PolicyRestarts(ContainerRecord record, int exitCode) =>
        !record.ManuallyStopped && !record.Config.AutoRemove && record.Config.RestartPolicy switch
        {
            { Name: "always" or "unless-stopped" } => true,
            { Name: "on-failure", MaximumRetryCount: var max } => exitCode != 0 && (max == 0 || record.RestartCount < max),
            _ => false,
        };

    /// <summary>Moves the container to restarting and starts it again after Docker's back-off (100 ms, doubling, reset by a 10 s run).</summary>
    private void ScheduleRestart(ContainerRecord record)
    {
        var ranLong = record.Status.StartedAt is { } started && record.Status.FinishedAt is { } finished && finished - started >= TimeSpan.FromSeconds(10);
        var state = _runtime.Of(record.Id);
        var streak = state.NextRestartStreak(ranLong);
        var delay = TimeSpan.FromMilliseconds(Math.Min(60_000, 100 * Math.Pow(2, streak)));
        _containers.Transition(record.Id, (who, s) => s.BeginRestart(who), null, alongside: r => r with { RestartCount = r.RestartCount + 1 });
        var pending = new PendingRestart();
        state.SetPendingRestart(pending);
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, _time, pending.Cancel.Token).ConfigureAwait(false);
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
                await StartCoreAsync(record.Id, byPolicy: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is PortLayerException or IOException or InvalidOperationException)
            {
                Log.RestartFailed(_logger, record.Id, ex.Message);
                _containers.Transition(record.Id, (who, s) => s is RestartingStatus ? s.Exit(who, 128, _time.GetUtcNow(), ex.Message) : s, "die",
                    new Dictionary<string, string> { ["exitCode"] = "128" });
            }
            finally
            {
                state.ClearPendingRestart(pending);
                pending.EndStart();
            }
        });
    }

    /// <summary>
    /// A stop, kill or removal of a container waiting for its restart: a restart still in its back-off is called
    /// off (true); one whose start is under way cannot be, so the caller gets that start to wait for.
    /// </summary>
    private (bool CalledOff, Task? Starting) CancelPendingRestart(string id, bool markExited)
    {
        if (_runtime.Find(id) is not { PendingRestart: { } pending } state)
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
            _containers.Transition(id, (who, s) => s is RestartingStatus ? s.Exit(who, s.ExitCode, s.FinishedAt ?? _time.GetUtcNow(), s.Error) : s, "stop", alongside: r => r with { ManuallyStopped = true });
        }

        return (true, null);
    }

    /// <summary>
    /// A stop or kill that meets a restart by policy: the restart is called off, or, when its ContainerVM is already
    /// starting, the stop waits for that start and then acts on what it started. False when nothing is left to stop.
    /// </summary>
    private async Task<bool> SettlePendingRestartAsync(string id, CancellationToken cancellationToken)
    {
        // Set first: a start by policy keeps it, and the exit this stop causes must not bring the container back.
        _containers.Change(id, r => r with { ManuallyStopped = true }, null);
        var (calledOff, starting) = CancelPendingRestart(id, markExited: true);
        if (calledOff)
        {
            return false;
        }

        if (starting is not null)
        {
            await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
            return _containers.Resolve(id).Status.IsRunning;
        }

        return true;
    }

    /// <summary>After an endpoint restart: always (and unless-stopped, if not stopped by hand) come back, as after a daemon restart.</summary>
    private void RestartByPolicyAfterRecovery(ContainerRecord record)
    {
        var wanted = record.Config.RestartPolicy.Name == "always" || (record.Config.RestartPolicy.Name == "unless-stopped" && !record.ManuallyStopped);
        if (wanted && record.Status is ExitedStatus)
        {
            _containers.Change(record.Id, r => r with { ManuallyStopped = false }, null);
            ScheduleRestart(_containers.Resolve(record.Id));
        }
    }
}
