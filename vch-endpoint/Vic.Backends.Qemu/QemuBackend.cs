using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.Backends.Qemu;

/// <summary>
/// ContainerVMs as QEMU processes on this host. Each VM has a folder (record, QMP and channel
/// sockets, pid, console log); QEMU runs daemonized, so VMs keep running while the endpoint
/// restarts and are found again from their folders. Instant clones restore a template and then
/// hot-add the container's disks.
/// </summary>
public sealed partial class QemuBackend : IComputeBackend, IBridgeFabric, IForwardsPublishedPorts, IDisposable
{
    private readonly QemuBackendOptions _options;
    private readonly ILogger _logger;
    private readonly TemplateStore _templates;
    private readonly Lock _capacity = new();
    private readonly ConcurrentDictionary<string, bool> _running = new();

    // VMs whose QEMU is being started: counted as running before their pid is recorded, which the
    // monitor must not take for a VM that died.
    private readonly ConcurrentDictionary<string, bool> _starting = new();

    // The open channel of a ready clone just adopted: the tether answered on it and waits on it.
    private readonly ConcurrentDictionary<string, Stream> _handedOver = new();
    private readonly ReadyClonePool _ready;
    // Bounded: until someone watches, the oldest changes give way, so an unwatched backend does not grow.
    private readonly Channel<ContainerVmChange> _changes = Channel.CreateBounded<ContainerVmChange>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _monitor;
    private readonly Bridge.LocalBridge _bridge;
    private readonly string? _isolationProblem;

    // With the loopback closed, the gateway no longer reaches the host's services: host-gateway
    // names the host's own address instead, as dockerd's docker0 address reaches what listens on all.
    private readonly string? _hostAddress;
    private string? _accelerator;

    public QemuBackend(QemuBackendOptions options, ILogger<QemuBackend> logger)
    {
        _logger = logger;
        _isolationProblem = options.Isolation is { } isolation ? HostFirewall.Apply(isolation, logger) : "not asked for";
        if (options.Isolation is not null && _isolationProblem is not null)
        {
            Log.NotIsolated(logger, _isolationProblem);

            // No rules to match the group, and setpriv may not set one (not root): QEMU runs as it did.
            options = options with { Isolation = null };
        }

        _options = options;

        _hostAddress = _isolationProblem is null ? HostFirewall.HostAddress()?.ToString() : null;

        _templates = new TemplateStore(options, logger);
        Directory.CreateDirectory(VmsDirectory);
        _bridge = new Bridge.LocalBridge(BridgeSocket, id => FolderOf(id).BridgeNic, logger);
        _ready = new ReadyClonePool(options, _templates, new NicBackends(new VmNetworkSpec("", Outbound: true, []), BridgeSocket), logger);
        foreach (var folder in Folders())
        {
            var record = folder.Read();
            _running[record.VmId] = Runs(record, folder);
        }

        _monitor = Task.Run(MonitorAsync);
    }

    public string Name => "qemu";

    private string VmsDirectory => Path.Combine(_options.StateDirectory, "vms");

    /// <summary>Where the bridge segment's switch listens; every bridge NIC sends its frames here.</summary>
    private string BridgeSocket => Path.Combine(_options.StateDirectory, "bridge.sock");

    public IBridgeResolver? Resolver
    {
        get => _bridge.Resolver;
        set => _bridge.Resolver = value;
    }

    public void Join(BridgePort port) => _bridge.Join(port);

    public void Leave(string containerId) => _bridge.Leave(containerId);

    public Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken)
    {
        var details = new List<KeyValuePair<string, string>>
        {
            new("QEMU accelerator", _accelerator ?? (_options.Accelerator == Accelerator.Auto ? "not probed yet" : _options.Accelerator.ToString().ToLowerInvariant())),
            new("Provisioning", _options.InstantClone ? $"instant clone (QEMU template restore, {(_options.CloneMemory == CloneMemory.CopyOnWrite ? "copy-on-write" : "fully copied")} memory)" : "cold boot"),
            new("Ready clones", $"{_ready.Count} of {_options.ReadyClones}"),
            new("Guest isolation", _isolationProblem is null
                ? $"the host's loopback and the endpoint's ports are closed to ContainerVMs (iptables chain {_options.Isolation?.Chain})"
                : $"WARNING: ContainerVMs can reach the host's loopback and the endpoint's API: {_isolationProblem}"),
        };
        var kernel = File.Exists(_options.Kernel) ? KernelImage.ReadRelease(_options.Kernel) ?? "" : "";
        return Task.FromResult(new BackendDescription(Name, _options.PoolLimit, kernel, details));
    }

    public Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        Validate(spec);
        var folder = FolderOf(spec.ContainerId);
        if (File.Exists(folder.RecordFile))
        {
            throw PortLayerException.Conflict($"ContainerVM {spec.ContainerId} already exists");
        }

        var record = new VmRecord { VmId = spec.ContainerId, Name = spec.Name, Resources = spec.Resources, Disks = spec.Disks, ExtraConfig = spec.ExtraConfig, Network = spec.Network, Shares = spec.Shares ?? [] };
        folder.Write(record);
        _running[spec.ContainerId] = false;
        return Task.FromResult(ToVm(record, PowerState.Off));
    }

    public async Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        await CreateAsync(spec, cancellationToken).ConfigureAwait(false);
        if (!_options.InstantClone)
        {
            await PowerOnAsync(spec.ContainerId, cancellationToken).ConfigureAwait(false);
            return ToVm(FolderOf(spec.ContainerId).Read(), PowerState.On);
        }

        var folder = FolderOf(spec.ContainerId);
        var record = folder.Read();
        var accelerator = await AcceleratorAsync(cancellationToken).ConfigureAwait(false);
        var template = await _templates.GetAsync(record.Resources, accelerator, cancellationToken).ConfigureAwait(false);
        _starting[record.VmId] = true;
        Reserve(record);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        // virtiofsd maps the guest's RAM itself, and a private mapping's writes are not in the file
        // it would map: a clone that shares host folders gets RAM of its own, a full copy.
        var fullCopy = _options.CloneMemory == CloneMemory.FullCopy || record.Shares.Count > 0;
        if (!fullCopy && record.Network is { Outbound: true } && _ready.TryTake(record.Resources, accelerator, template) is { } ready)
        {
            return await AdoptAsync(record, folder, ready, watch, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var ram = fullCopy ? GuestRam.Anonymous : GuestRam.Fork(template.Ram);
            var pid = await QemuProcess.StartAsync(_options.QemuBinary, QemuCommand.Build(_options, folder, record.Resources, accelerator, [], ram, incoming: true, nics: NicsOf(record)), folder, cancellationToken, _options.Isolation?.GroupId).ConfigureAwait(false);
            var launched = watch.ElapsedMilliseconds;
            _ready.Starting(pid);
            record = record with { Pid = pid, StartedAt = DateTimeOffset.UtcNow, Provisioning = ProvisioningPath.InstantClone, ScsiTargets = QemuCommand.ScsiTargets(record.Disks) };
            folder.Write(record);
            _starting.TryRemove(record.VmId, out _);
            await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            await DeviceState.RestoreAsync(qmp, fullCopy ? template.StateWithRam : template.State, withRam: fullCopy, cancellationToken).ConfigureAwait(false);
            await DeviceState.WaitRunningAsync(qmp, cancellationToken).ConfigureAwait(false);
            var restored = watch.ElapsedMilliseconds;
            foreach (var disk in record.Disks)
            {
                await DiskHotPlug.AddAsync(qmp, disk, record.ScsiTargets[disk.Id], cancellationToken).ConfigureAwait(false);
            }

            if (record.Shares.Count > 0)
            {
                await SharedFolders.StartAsync(_options.VirtioFsDaemon, folder, record.Shares, cancellationToken).ConfigureAwait(false);
                await SharedFolders.HotAddAsync(qmp, folder, record.Shares, cancellationToken).ConfigureAwait(false);
            }

            Log.Cloned(_logger, spec.ContainerId, fullCopy ? "a full copy of" : "copy-on-write", launched, restored - launched, watch.ElapsedMilliseconds - restored);
        }
        catch
        {
            _starting.TryRemove(record.VmId, out _);
            Release(record);
            Kill(folder.Read(), folder);
            SharedFolders.Stop(folder);
            throw;
        }

        Log.Started(_logger, spec.ContainerId, "instant clone");
        return ToVm(record, PowerState.On);
    }

    /// <summary>
    /// Makes a ready clone this container's VM: its files move into the VM's folder (QEMU keeps its
    /// sockets and console open through the rename), its disks and published ports are added, and
    /// the channel it already answered on is what <see cref="OpenChannelAsync"/> hands out next.
    /// </summary>
    private async Task<ContainerVm> AdoptAsync(VmRecord record, VmFolder folder, ReadyClone ready, System.Diagnostics.Stopwatch watch, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var file in Directory.EnumerateFiles(ready.Folder.Path))
            {
                File.Move(file, Path.Combine(folder.Path, Path.GetFileName(file)), overwrite: true);
            }

            Directory.Delete(ready.Folder.Path);
            _ready.Starting(ready.Pid);
            record = record with { Pid = ready.Pid, LaunchedIn = ready.Folder.Path, StartedAt = DateTimeOffset.UtcNow, Provisioning = ProvisioningPath.InstantClone, ScsiTargets = QemuCommand.ScsiTargets(record.Disks) };
            folder.Write(record);
            _starting.TryRemove(record.VmId, out _);
            var adopted = watch.ElapsedMilliseconds;
            await using (var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false))
            {
                foreach (var disk in record.Disks)
                {
                    await DiskHotPlug.AddAsync(qmp, disk, record.ScsiTargets[disk.Id], cancellationToken).ConfigureAwait(false);
                }

                foreach (var forward in record.Network!.Forwards)
                {
                    var refused = (await qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = $"hostfwd_add np {forward.Protocol}:{forward.HostIp}:{forward.HostPort}-:{forward.GuestPort}" }, cancellationToken).ConfigureAwait(false))?.GetValue<string>();
                    if (!string.IsNullOrWhiteSpace(refused))
                    {
                        throw new QemuException($"qemu failed to publish port {forward.HostPort}: {refused.Trim()}");
                    }
                }
            }

            _handedOver[record.VmId] = ready.Channel;
            Log.ReadyCloneTaken(_logger, record.VmId, adopted, watch.ElapsedMilliseconds - adopted);
        }
        catch
        {
            _starting.TryRemove(record.VmId, out _);
            Release(record);
            ready.Channel.Dispose();
            QemuProcess.Kill(ready.Pid, ready.Folder.Path);
            throw;
        }

        Log.Started(_logger, record.VmId, "instant clone (ready)");
        return ToVm(record, PowerState.On);
    }

    public Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken)
    {
        var vms = new List<ContainerVm>();
        foreach (var folder in Folders())
        {
            try
            {
                var record = folder.Read();
                vms.Add(ToVm(record, Runs(record, folder) ? PowerState.On : PowerState.Off));
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                // Destroyed between the listing and the read (two removals at once, say): it is gone.
            }
        }

        return Task.FromResult<IReadOnlyList<ContainerVm>>(vms);
    }

    public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
    {
        if (_handedOver.TryRemove(vmId, out var ready))
        {
            return ready;
        }

        var folder = Existing(vmId);
        if (!Runs(folder.Read(), folder))
        {
            throw PortLayerException.Conflict($"ContainerVM {vmId} is not running");
        }

        return await TetherProbe.ConnectAsync(folder.Channel, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<ContainerVmChange> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var change in _changes.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return change;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _monitor.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _ready.Dispose();
        _templates.Dispose();
        _bridge.Dispose();
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")]
    private static partial Regex SafeId();

    [GeneratedRegex("^[a-zA-Z][a-zA-Z0-9_-]{0,19}$")]
    private static partial Regex DiskId();

    private static partial class Log
    {
        [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "ContainerVMs can reach the host's loopback and the endpoint's API: {Reason}")]
        public static partial void NotIsolated(ILogger logger, string reason);

        [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "ContainerVM {VmId} powered off: the daemon sharing a host folder over {Socket} ended, and the guest cannot reconnect to another")]
        public static partial void ShareEnded(ILogger logger, string vmId, string socket);

        [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "ContainerVM {VmId} started by {Path}")]
        public static partial void Started(ILogger logger, string vmId, string path);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "ContainerVM {VmId} stopped")]
        public static partial void Stopped(ILogger logger, string vmId);

        [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "ContainerVM {VmId} cloned with {Memory} the template's RAM: qemu up in {LaunchMs} ms, restored in {RestoreMs} ms, disks added in {DisksMs} ms")]
        public static partial void Cloned(ILogger logger, string vmId, string memory, long launchMs, long restoreMs, long disksMs);

        [LoggerMessage(EventId = 4007, Level = LogLevel.Information, Message = "ContainerVM {VmId} is a ready clone: moved in after {AdoptMs} ms, disks and ports added in {DisksMs} ms")]
        public static partial void ReadyCloneTaken(ILogger logger, string vmId, long adoptMs, long disksMs);

        [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "QEMU accelerator: {Accelerator}")]
        public static partial void AcceleratorChosen(ILogger logger, string accelerator);
    }
}
