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
    private readonly Networks.NetworkService _networks;
    private readonly IBridgeFabric? _fabric;
    private readonly RestartScheduler _restarts;
    private readonly ExecSessions _execs;
    private readonly Healthchecks _healthchecks;

    public ContainerService(VchConfig config, ContainerCatalog containers, ImageService images, Volumes.VolumeService volumes, Networks.NetworkService networks, IComputeBackend? backend, TimeProvider time, ILogger logger)
    {
        _config = config;
        _containers = containers;
        _images = images;
        _volumes = volumes;
        _networks = networks;
        _backend = backend;
        _fabric = backend as IBridgeFabric;
        _time = time;
        _logger = logger;
        _runtime = new ContainerRuntimeTable(OpenLog, containers.Contains);
        _execs = new ExecSessions(containers, _runtime);
        _healthchecks = new Healthchecks(containers, time);
        _restarts = new RestartScheduler(containers, _runtime, time, id => StartCoreAsync(id, byPolicy: true, CancellationToken.None), logger);
        SweepStaging();
        if (backend is not null)
        {
            _ = Task.Run(() => WatchVmsAsync(backend));
        }
    }

    /// <summary>How much per-container state the runtime holds: flat across any number of containers come and gone.</summary>
    public (int Containers, int ExecSessions) HeldState => (_runtime.Count, _runtime.ExecCount);

    private string ContainersDirectory => Path.Combine(_config.DataDirectory, "containers");

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
        foreach (var running in _runtime.All.Select(s => s.Running).OfType<RunningContainer>())
        {
            // The endpoint is stopping, not the containers: their ContainerVMs run on and the next
            // endpoint re-attaches. Abandoned, the closed channel is not read as a death (137).
            running.Abandoned = true;
            running.Dispose();
        }

        _runtime.Dispose();
    }

    private async Task ForgetAsync(ContainerRecord record, CancellationToken cancellationToken)
    {
        if (_backend is not null && (await _backend.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
        {
            try
            {
                await _backend.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // Gone between the listing and the destroy: what removal wanted.
            }
        }

        _fabric?.Leave(record.Id);
        var folder = Path.Combine(ContainersDirectory, record.Id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        _containers.Forget(record.Id);
        _runtime.Drop(record.Id, record.Status.ExitCode);
    }

    private ContainerLog LogOf(string id) => _runtime.Of(id).Log;

    private ContainerLog OpenLog(string id) =>
        new(Path.Combine(Directory.CreateDirectory(Path.Combine(ContainersDirectory, id)).FullName, "container.log"), _containers.List().FirstOrDefault(c => c.Id == id)?.Config.Log ?? LogSettings.Default);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "container {Id} started")]
        public static partial void Started(ILogger logger, string id);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "container {Id} exited with {Code}")]
        public static partial void Exited(ILogger logger, string id, int code);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "container {Id} reattached after an endpoint restart")]
        public static partial void Reattached(ILogger logger, string id);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "container {Id}: the tether did not answer on connection {Attempt}; reconnecting")]
        public static partial void TetherSilent(ILogger logger, string id, int attempt);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "container {Id} could not be recovered after the endpoint restart: {Reason}")]
        public static partial void RecoveryFailed(ILogger logger, string id, string reason);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "container {Id} ({Name}) rebuilt from its ContainerVM's record")]
        public static partial void Adopted(ILogger logger, string id, string name);

        [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "container {Id}: its tether answered {Ms:0} ms after the ContainerVM was up")]
        public static partial void TetherAnswered(ILogger logger, string id, double ms);

        [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "container {Id}: in the guest, from the spec: network {NetworkMs:0} ms, disks seen {DisksMs:0} ms, root made {RootMs:0} ms, program running {ProcessMs:0} ms (the root: {RootSteps})")]
        public static partial void GuestStart(ILogger logger, string id, double networkMs, double disksMs, double rootMs, double processMs, string rootSteps);

        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "container {Id}: its ContainerVM was {How} behind the VCH's back; the container ends as a VM that stopped")]
        public static partial void VmStoppedBehindOurBack(ILogger logger, string id, string how);

        [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "the backend's inventory watch failed: {Reason}; out-of-band power-offs go unseen until a channel closes")]
        public static partial void WatchFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "container {Id}: its tether broke the protocol: {Reason}")]
        public static partial void TetherBrokeProtocol(ILogger logger, string id, string reason);
    }
}
