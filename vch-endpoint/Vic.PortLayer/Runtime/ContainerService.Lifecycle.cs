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

/// <summary>Restart by hand, rename, update and prune; restarts by policy are <see cref="RestartScheduler"/>'s.</summary>
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

    public void Rename(string idOrName, string newName)
    {
        _containers.Rename(idOrName, newName);
        _networking.RefreshPeers();
    }

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
}
