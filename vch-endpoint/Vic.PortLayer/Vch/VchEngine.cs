using System.Diagnostics.Metrics;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Events;
using Vic.PortLayer.Images;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Store;
using Vic.PortLayer.Volumes;

namespace Vic.PortLayer.Vch;

/// <summary>A point-in-time account of the VCH for <c>docker info</c>.</summary>
public sealed record VchSummary(
    string Id,
    string Name,
    IReadOnlyDictionary<ContainerState, int> ContainersByState,
    long Images,
    VmResources PoolLimit,
    string Backend,
    string ContainerVmKernel,
    RegistryConfig Registries,
    IReadOnlyList<KeyValuePair<string, string>> BackendDetails)
{
    /// <summary>What an admin should know: store records or a store file set aside because they could not be read.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// The port layer as one object: the store, the event bus, the container catalog and the compute
/// backend of one VCH. The Api holds this and nothing below it.
/// </summary>
public sealed partial class VchEngine : IDisposable
{
    public const string MeterName = "Vic.PortLayer";

    private readonly Meter _meter = new(MeterName);

    public VchEngine(VchConfig config, TimeProvider time, IComputeBackend? backend = null, ILoggerFactory? loggers = null)
    {
        Config = config;
        Time = time;
        Backend = backend;
        Directory.CreateDirectory(config.DataDirectory);
        Id = LoadOrCreateId(config.DataDirectory);
        Store = VchStore.Open(config.StorePath);
        Events = new EventBus(time);
        Containers = new ContainerCatalog(Store, Events, time, backend as IMacRange);
        Images = new ImageService(config, Events, Containers, loggers ?? NullLoggerFactory.Instance);
        Volumes = new VolumeService(config, Store, Containers, Events, time);
        Networks = new NetworkService(Store, Containers, Events, time, config.ContainerNetworks);
        if (backend is IBridgeFabric fabric)
        {
            fabric.Resolver = Networks;
        }

        Runtime = new ContainerService(config, Containers, Images, Volumes, Networks, backend, time, (loggers ?? NullLoggerFactory.Instance).CreateLogger<ContainerService>());
        KernelRelease = config.ContainerVmKernel is { } kernel && File.Exists(kernel) ? KernelImage.ReadRelease(kernel) ?? "" : "";
        var logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger<VchEngine>();

        // Volumes and networks are read from the store when asked for: read them once now, so that a
        // record that cannot be read is set aside at start and the log and the first docker info say so.
        _ = Volumes.List();
        _ = Networks.List();
        foreach (var warning in StoreWarnings())
        {
            Log.StoreSetAside(logger, warning);
        }

        _meter.CreateObservableGauge(
            "vch_containers",
            () => Containers.CountByState().Select(p => new Measurement<int>(p.Value, new KeyValuePair<string, object?>("state", p.Key.ToWire()))),
            description: "Containers in the VCH by state");
        _meter.CreateObservableCounter("vch_events_published", () => Events.Published, description: "Engine events published");

        // What a soak watches for growth: per-container state the runtime keeps, and the process's own.
        _meter.CreateObservableGauge("vch_store_unsaved_changes", () => Containers.Unsaved, description: "Container changes held in memory because the store could not write them (its disk full)");
        _meter.CreateObservableGauge("vch_runtime_states", () => Runtime.HeldState.Containers, description: "Containers the runtime holds in-memory state for");
        _meter.CreateObservableGauge("vch_runtime_exec_sessions", () => Runtime.HeldState.ExecSessions, description: "Exec sessions the runtime keeps");
        _meter.CreateObservableGauge("vch_process_managed_heap_bytes", () => GC.GetTotalMemory(forceFullCollection: true), "By", "The endpoint's live managed heap: a scrape forces a full collection");
        _meter.CreateObservableGauge("vch_process_threads", () => EntriesIn("/proc/self/task"), description: "The endpoint's threads");
        _meter.CreateObservableGauge("vch_process_open_fds", () => EntriesIn("/proc/self/fd"), description: "The endpoint's open file descriptors");
    }

    private static int EntriesIn(string folder) => Directory.Exists(folder) ? Directory.GetFileSystemEntries(folder).Length : 0;

    /// <summary>The VCH's stable identity, kept in its data directory across restarts.</summary>
    public string Id { get; }

    public VchConfig Config { get; }

    public TimeProvider Time { get; }

    /// <summary>The backend whole: the engine's own parts use it; the layers above take only the roles below.</summary>
    internal IComputeBackend? Backend { get; }

    /// <summary>The hypervisor's inventory (vicadmin's ContainerVM table); null without a backend.</summary>
    public IVmInventory? Inventory => Backend;

    /// <summary>ContainerVM consoles, where the backend keeps them (vicadmin's log bundle); null otherwise.</summary>
    public IConsoleLogSource? Consoles => Backend as IConsoleLogSource;

    public VchStore Store { get; }

    public EventBus Events { get; }

    public ContainerCatalog Containers { get; }

    public ImageService Images { get; }

    /// <summary>Volumes: ext4 VMDKs in the VCH's volume store.</summary>
    public VolumeService Volumes { get; }

    /// <summary>Networks: the predefined bridge and none, user-defined bridge networks, IPAM.</summary>
    public NetworkService Networks { get; }

    /// <summary>Runs containers on the backend: start, attach, wait, logs, stop, kill, remove.</summary>
    public ContainerService Runtime { get; }

    /// <summary>The release of the kernel ContainerVMs boot, empty when none is configured.</summary>
    public string KernelRelease { get; }

    public async Task<VchSummary> SummarizeAsync(CancellationToken cancellationToken)
    {
        var backend = Backend is null ? null : await Backend.DescribeAsync(cancellationToken).ConfigureAwait(false);
        return new VchSummary(
            Id,
            Config.Name,
            Containers.CountByState(),
            Images.Catalog.Count,
            backend?.PoolLimit ?? Config.PoolLimit,
            backend?.Name ?? "none",
            backend?.ContainerVmKernel ?? KernelRelease,
            Config.Registries,
            backend?.Details ?? [])
        {
            Warnings = StoreWarnings(),
        };
    }

    /// <summary>
    /// docker info's warnings for what the store could not read; the records themselves stay in its
    /// quarantine. The CLI prints them as they are, so they begin "WARNING: " as dockerd's do.
    /// </summary>
    private List<string> StoreWarnings()
    {
        var warnings = Store.Quarantined()
            .Select(q => $"WARNING: the VCH's record of {q.Kind.ToString().ToLowerInvariant()} {q.Id} could not be read and was set aside ({q.Reason}); it is kept in the store's quarantine table")
            .ToList();
        warnings.AddRange(Images.Layers.Quarantined.Select(q =>
            $"WARNING: layer {q.DiffId} of the image store could not be read and was set aside ({q.Reason}); it was moved to {q.SetAsideTo}, and images that have it must be pulled again"));
        if (Store.SetAsideFile is { } aside)
        {
            warnings.Insert(0, $"WARNING: the VCH's store could not be read and was moved to {aside}; a fresh store was made and containers are taken back from their ContainerVMs");
        }

        return warnings;
    }

    public void Dispose()
    {
        _meter.Dispose();
        Runtime.Dispose();
        (Backend as IDisposable)?.Dispose();
        Images.Dispose();
        Store.Dispose();
    }

    private static string LoadOrCreateId(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "vch-id");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var id = Guid.NewGuid().ToString().ToUpperInvariant();
        var temp = path + ".tmp";
        File.WriteAllText(temp, id);
        File.Move(temp, path, overwrite: true);
        return id;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2100, Level = LogLevel.Warning, Message = "{Warning}")]
        public static partial void StoreSetAside(ILogger logger, string warning);
    }
}
