using Microsoft.Extensions.Logging;
using Vic.ImageStore.Layers;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Images;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Runtime;

/// <summary>What <c>docker wait</c> waits for.</summary>
public enum WaitCondition
{
    NotRunning,
    NextExit,
    Removed,
}

/// <summary>A client attached to a container: its live output, and its stdin if it asked for it.</summary>
public sealed record AttachedStreams(System.Threading.Channels.ChannelReader<OutputChunk> Output, bool Tty, Func<ReadOnlyMemory<byte>, Task> WriteStdin, Func<Task> CloseStdin);

/// <summary>
/// Runs containers: makes their scratch disks, turns a start into a ContainerVM (an instant clone
/// where the backend can) with the image's layer disks, hands the tether its spec, relays output to
/// the log and to attached clients, and records the exit. One instance per VCH.
/// </summary>
public sealed partial class ContainerService : IDisposable
{
    /// <summary>Memory of a ContainerVM when the container asks for none.</summary>
    public const long DefaultMemoryBytes = 256L << 20;

    private readonly VchConfig _config;
    private readonly ContainerCatalog _containers;
    private readonly ImageService _images;
    private readonly Volumes.VolumeService _volumes;
    private readonly IComputeBackend? _backend;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ContainerRuntimeTable _runtime;
    private readonly ContainerNetworking _networking;
    private readonly PublishedPortRelays? _relays;
    private readonly Networks.NetworkService _networks;
    private readonly RestartScheduler _restarts;
    private readonly ExecSessions _execs;
    private readonly ContainerTeardown _teardown;
    private readonly ContainerStarter _starter;
    private readonly FilesVms _files;
    private readonly ContainerRecovery _recovery;

    public ContainerService(VchConfig config, ContainerCatalog containers, ImageService images, Volumes.VolumeService volumes, Networks.NetworkService networks, IComputeBackend? backend, TimeProvider time, ILogger logger)
    {
        _config = config;
        _containers = containers;
        _images = images;
        _volumes = volumes;
        _networks = networks;
        _backend = backend;
        _time = time;
        _logger = logger;
        _runtime = new ContainerRuntimeTable(OpenLog, containers.Contains);
        _relays = backend is null or IForwardsPublishedPorts ? null : new PublishedPortRelays(_runtime, logger);
        _networking = new ContainerNetworking(containers, networks, _runtime, backend as IBridgeFabric, _relays);
        var recipe = new ContainerVmRecipe(config, images, volumes, _networking, time);
        _teardown = new ContainerTeardown(containers, _runtime, backend, _networking, ContainersDirectory);
        _execs = new ExecSessions(containers, _runtime);
        var healthchecks = new Healthchecks(containers, time);

        // A restart by policy is a start, and a start's run ends in the restart's schedule: the
        // scheduler reaches the starter made after it.
        _restarts = new RestartScheduler(containers, _runtime, time, id => _starter!.StartAsync(id, byPolicy: true, CancellationToken.None), logger);
        var ending = new RunEnding(containers, _runtime, _networking, _restarts, _teardown, time, logger);
        var connector = new TetherConnector(_runtime, new RunPump(containers, _runtime, backend, ending, time, logger), logger);
        _starter = new ContainerStarter(backend, containers, _runtime, recipe, _networking, connector, healthchecks, _teardown, time, logger);
        _files = new FilesVms(backend, containers, _runtime, recipe, connector);
        _recovery = new ContainerRecovery(backend, containers, _runtime, _networking, connector, healthchecks, _restarts, ending, _teardown, time, logger);
        SweepStaging();
        if (backend is not null)
        {
            _ = Task.Run(() => WatchVmsAsync(backend));
        }
    }

    /// <summary>How much per-container state the runtime holds: flat across any number of containers come and gone.</summary>
    public (int Containers, int ExecSessions) HeldState => (_runtime.Count, _runtime.ExecCount);

    private string ContainersDirectory => Path.Combine(_config.DataDirectory, "containers");

    public Task StartAsync(string idOrName, CancellationToken cancellationToken) => _starter.StartAsync(idOrName, byPolicy: false, cancellationToken);

    /// <summary>
    /// After the endpoint restarted: reattaches to every container the store says runs, collects
    /// the output and exits that waited in their ContainerVMs meanwhile, records the end of those
    /// whose VM is gone, and finishes removals a crash interrupted.
    /// </summary>
    public Task RecoverAsync(CancellationToken cancellationToken) => _recovery.RecoverAsync(cancellationToken);

    /// <summary><c>docker network connect</c>: recorded, and applied at once to a running container.</summary>
    public Task ConnectAsync(string containerIdOrName, string networkIdOrName, Networks.EndpointRequest request, CancellationToken cancellationToken) =>
        _networking.ConnectAsync(containerIdOrName, networkIdOrName, request, cancellationToken);

    /// <summary><c>docker network disconnect</c>: recorded, and applied at once to a running container.</summary>
    public Task DisconnectAsync(string containerIdOrName, string networkIdOrName, bool force, CancellationToken cancellationToken) =>
        _networking.DisconnectAsync(containerIdOrName, networkIdOrName, force, cancellationToken);

    /// <summary><c>docker rm --link parent/alias</c>: the parent forgets the link; the linked container is untouched.</summary>
    public void RemoveLink(string parentAndAlias) => _networking.RemoveLink(parentAndAlias);

    /// <summary>Creates a container from an image the VCH holds, with the image's config merged in as dockerd does.</summary>
    public ContainerRecord Create(string? name, string image, IReadOnlyDictionary<string, string> labels, ContainerConfig requested)
    {
        var found = _images.Catalog.Find(image)
            ?? throw PortLayerException.NotFound($"No such image: {(Registry.ImageReference.TryParse(image, out var reference, out _) ? reference.FamiliarString : image)}");
        var imageConfig = _images.Catalog.ReadConfig(found.Id);
        var config = ImageDefaults.Merge(requested, imageConfig);
        if (config.Args.Count == 0)
        {
            throw PortLayerException.InvalidParameter("no command specified");
        }

        if (config.Confinement.CpusNeeded > _config.PoolLimit.Cpus)
        {
            // dockerd's words, with the VCH's CPUs for the host's: the ContainerVM is sized to hold the set.
            throw PortLayerException.InvalidParameter($"Requested CPUs are not available - requested {config.Confinement.CpusetCpus}, available: 0-{_config.PoolLimit.Cpus - 1} (--cpuset-cpus)");
        }

        if (_backend is IMacRange macs && config.MacAddress is { } asked && !macs.Takes(asked, out var range))
        {
            throw PortLayerException.InvalidParameter($"invalid MAC address {asked} (--mac-address): this VCH's ContainerVM NICs take MACs from {range} only");
        }

        config = WithVolumesFrom(config);
        config = config with { Mounts = ResolveMounts(config.Mounts, ImageDefaults.Volumes(imageConfig), config.Binds, config.VolumeDriver) };

        var mergedLabels = new Dictionary<string, string>(found.Labels);
        foreach (var (key, value) in labels)
        {
            mergedLabels[key] = value;
        }

        // The scratch disk is made first, aside, and the record only once it is whole: a full disk
        // or a kill on the way leaves no container without its disk (a start sweeps what is aside).
        var staging = Directory.CreateDirectory(Path.Combine(ContainersDirectory, $"{StagingPrefix}{Guid.NewGuid():N}")).FullName;
        try
        {
            using (var scratch = new Ext4VmdkLayerDisk(Path.Combine(staging, "scratch.vmdk"), _config.LayerCapacityBytes))
            {
                scratch.Complete();
            }

            var record = _networks.CreateConnected(config, c => _containers.Create(new NewContainer(name, image, mergedLabels, c, found.Id)));
            Directory.Move(staging, Path.Combine(ContainersDirectory, record.Id));
            return record;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private const string StagingPrefix = ".new-";

    /// <summary>Scratch disks a create left aside when the endpoint died before their record was made.</summary>
    private void SweepStaging()
    {
        if (!Directory.Exists(ContainersDirectory))
        {
            return;
        }

        foreach (var staging in Directory.EnumerateDirectories(ContainersDirectory, $"{StagingPrefix}*"))
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    public void Dispose()
    {
        _watching.Cancel();

        // The next endpoint listens on the ports again when it reattaches.
        _relays?.Dispose();
        foreach (var running in _runtime.All.Select(s => s.Running).OfType<RunningContainer>())
        {
            // The endpoint is stopping, not the containers: their ContainerVMs run on and the next
            // endpoint re-attaches. Abandoned, the closed channel is not read as a death (137).
            running.Abandoned = true;
            running.Dispose();
        }

        _runtime.Dispose();
    }

    private ContainerLog OpenLog(string id)
    {
        var container = _containers.List().FirstOrDefault(c => c.Id == id);
        var settings = container?.Config.Log ?? LogSettings.Default;
        var syslog = container is not null && settings.Syslog is { } target
            ? new SyslogForwarder(target, SyslogTarget.ExpandTag(target.Tag, id, container.Name, container.ImageId, container.Image), _logger, hostname: _config.Name)
            : null;
        return new(Path.Combine(Directory.CreateDirectory(Path.Combine(ContainersDirectory, id)).FullName, "container.log"), settings, syslog);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "container {Id}: its ContainerVM was {How} behind the VCH's back; the container ends as a VM that stopped")]
        public static partial void VmStoppedBehindOurBack(ILogger logger, string id, string how);

        [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "the backend's inventory watch failed: {Reason}; out-of-band power-offs go unseen until a channel closes")]
        public static partial void WatchFailed(ILogger logger, string reason);
    }
}
