using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>
/// ContainerVMs as vSphere VMs in the VCH's resource pool, driven through the vim25 API. A VM boots
/// the bootstrap ISO, has its disks on a paravirtual SCSI controller and its channel on a serial
/// port backed by <c>tcp://endpoint:port</c>; everything the backend must remember is in the VM's
/// extraConfig, so the inventory alone rebuilds it after an endpoint restart. Clones try
/// <c>InstantClone_Task</c>, then a linked clone of the VCH's template from its snapshot, then a
/// cold boot, and say which path they took.
/// </summary>
public sealed partial class VsphereBackend : IComputeBackend, IMacRange, IAsyncDisposable, IDisposable
{
    private const int ControllerKey = -100;
    private const string TemplateSnapshot = "vic-base";

    private readonly VsphereBackendOptions _options;
    private readonly ILogger _logger;
    private readonly DiskImporter _disks;
    private readonly SemaphoreSlim _connect = new(1, 1);
    private readonly SemaphoreSlim _parenting = new(1, 1);
    private readonly ConcurrentDictionary<string, ChannelListener> _channels = new();
    private readonly ConcurrentDictionary<string, PowerState> _known = new();
    private readonly ConcurrentDictionary<string, long> _knownSince = new();
    // Bounded: until someone watches, the oldest changes give way, so an unwatched backend does not grow.
    private readonly Channel<ContainerVmChange> _changes = Channel.CreateBounded<ContainerVmChange>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _addressing = new();
    private readonly HashSet<string> _claimedAddresses = [];
    private VimSession? _session;
    private Places? _places;
    private Task _watch = Task.CompletedTask;
    private Vspc.VspcListener? _vspc;
    private string _provisioning = "not tried yet";

    public VsphereBackend(VsphereBackendOptions options, string stateDirectory, ILogger<VsphereBackend> logger)
    {
        _options = options;
        _logger = logger;
        Directory.CreateDirectory(stateDirectory);
        _disks = new DiskImporter(options, stateDirectory);
    }

    public string Name => "vsphere";

    /// <summary>vCenter takes a NIC's manual MAC from VMware's range only: a container's bridge MAC is one of it.</summary>
    public string BridgeMacFor(string containerId, IReadOnlySet<string> taken) => VmwareMacs.DeriveFree(containerId + "/bridge", taken);

    public bool Takes(string mac, out string range)
    {
        range = "00:50:56:00:00:00 to 00:50:56:3f:ff:ff (VMware's range for manual MACs)";
        return VmwareMacs.IsManual(mac);
    }

    public async Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken)
    {
        var session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        return new BackendDescription(Name, _options.PoolLimit, "", [
            new("vSphere", session.Content.About.FullName),
            new("Resource pool", _options.PoolPath),
            new("Image datastore", _options.Datastore),
            new("Provisioning", _provisioning),
        ]);
    }

    public async Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        Validate(spec);
        var session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        var places = _places!;
        if (await FindAsync(spec.ContainerId, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw PortLayerException.Conflict($"ContainerVM {spec.ContainerId} already exists");
        }

        var (disks, publicAddress) = await PrepareAsync(session, spec, cancellationToken).ConfigureAwait(false);
        var channel = await OpenChannelPortAsync(spec.ContainerId).ConfigureAwait(false);
        var config = ConfigOf(spec, disks, channel.Port, ProvisioningPath.ColdBoot, publicAddress) with
        {
            GuestId = _options.GuestId,
            VmPathName = Datastores.DatastorePath(_options.Datastore, $"{_options.VchName}/{spec.Name}"),
            Devices =
            [
                DeviceChange.Add(new CdromIso(-1, _options.IsoPath)),
                DeviceChange.Add(new ParaVirtualScsiController(ControllerKey)),
                .. DiskDevices(disks, ControllerKey),
                DeviceChange.Add(SerialPort(channel.Port)),
                .. Nics(spec),
            ],
        };
        await Faulted(() => session.CreateVmAsync(places.Folder, places.Pool, config, cancellationToken)).ConfigureAwait(false);
        Know(spec.ContainerId, PowerState.Off);
        return new ContainerVm(spec.ContainerId, spec.Name, PowerState.Off, spec.Resources, ProvisioningPath.ColdBoot, spec.ExtraConfig, PublicNicOf(spec.ContainerId, publicAddress));
    }

    public async Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        Validate(spec);
        var session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        await CheckFitsAsync(spec.Resources, cancellationToken).ConfigureAwait(false);
        var (disks, publicAddress) = await PrepareAsync(session, spec, cancellationToken).ConfigureAwait(false);
        var places = _places!;
        var (instant, whyNot) = await TryInstantCloneAsync(session, spec, disks, publicAddress, cancellationToken).ConfigureAwait(false);
        if (instant is not null)
        {
            _provisioning = $"instant clone of {ParentName}";
            Know(spec.ContainerId, PowerState.On);
            Log.Started(_logger, spec.ContainerId, "instant clone");
            return new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.InstantClone, spec.ExtraConfig, PublicNicOf(spec.ContainerId, publicAddress));
        }

        var template = await TemplateAsync(session, cancellationToken).ConfigureAwait(false);
        var channel = await OpenChannelPortAsync(spec.ContainerId).ConfigureAwait(false);
        {
            try
            {
                var config = ConfigOf(spec, disks, channel.Port, ProvisioningPath.LinkedClone, publicAddress) with
                {
                    Devices = [.. DiskDevices(disks, template.ControllerKey), DeviceChange.Add(SerialPort(channel.Port)), .. Nics(spec)],
                };
                var clone = await session.CloneVmAsync(template.Vm, places.Folder, spec.Name, places.Pool, cancellationToken, template.Snapshot, config, powerOn: true).ConfigureAwait(false);

                // Not every server honours powerOn in the clone spec (vcsim does not).
                if ((await session.RetrieveOneAsync(clone, ["runtime.powerState"], cancellationToken).ConfigureAwait(false)).Text("runtime.powerState") != "poweredOn")
                {
                    await session.PowerOnVmAsync(clone, cancellationToken).ConfigureAwait(false);
                }

                _provisioning = $"linked clone of {template.Name} from its snapshot (no instant clone: {whyNot})";
                Know(spec.ContainerId, PowerState.On);
                Log.Started(_logger, spec.ContainerId, "linked clone");
                return new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.LinkedClone, spec.ExtraConfig, PublicNicOf(spec.ContainerId, publicAddress));
            }
            catch (VimFaultException linked)
            {
                _provisioning = $"cold boot (no instant clone: {whyNot}; CloneVM_Task: {linked.FaultName})";
                Log.Fallback(_logger, spec.ContainerId, linked.FaultName);
            }
        }

        Release(publicAddress);
        var cold = await CreateAsync(spec, cancellationToken).ConfigureAwait(false);
        await PowerOnAsync(spec.ContainerId, cancellationToken).ConfigureAwait(false);
        return cold with { Power = PowerState.On };
    }

    public async Task PowerOnAsync(string vmId, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        if (vm.Power == PowerState.On)
        {
            return;
        }

        await CheckFitsAsync(vm.Resources, cancellationToken).ConfigureAwait(false);
        await Faulted(() => PowerAsync(vm.Ref, on: true, cancellationToken)).ConfigureAwait(false);
        Know(vmId, PowerState.On);
        Log.Started(_logger, vmId, "cold boot");
    }

    public async Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        if (vm.Power == PowerState.Off)
        {
            return;
        }

        await Faulted(() => PowerAsync(vm.Ref, on: false, cancellationToken)).ConfigureAwait(false);
        _knownSince[vmId] = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_known.TryUpdate(vmId, PowerState.Off, PowerState.On))
        {
            await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, PowerState.Off, null, Gone: false), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        CheckLimits(resources);
        await Faulted(() => _session!.ReconfigureVmAsync(vm.Ref, new VmConfigSpec { Cpus = resources.Cpus, MemoryMb = resources.MemoryBytes >> 20 }, cancellationToken)).ConfigureAwait(false);
    }

    public async Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken)
    {
        ValidateDisk(disk);
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        if (vm.Disks.Any(d => d.Id == disk.Id))
        {
            throw PortLayerException.Conflict($"ContainerVM {vmId} already has a disk {disk.Id}");
        }

        var session = _session!;
        var path = await _disks.EnsureAsync(session, _places!.Pool, _places.Folder, disk, cancellationToken).ConfigureAwait(false);
        var added = new VmDisk(disk.Id, disk.Path, disk.Role, disk.ReadOnly, path);
        var controller = (await session.ReadDevicesAsync(vm.Ref, cancellationToken).ConfigureAwait(false)).First(d => d.Type == "ParaVirtualSCSIController").Key;
        List<VmDisk> disks = [.. vm.Disks, added];
        await Faulted(() => session.ReconfigureVmAsync(vm.Ref, new VmConfigSpec
        {
            Devices = [DiskDevices(disks, controller).Last()],
            ExtraConfig = [new(VmExtraConfig.Disks, VmExtraConfig.WriteDisks(disks))],
        }, cancellationToken)).ConfigureAwait(false);
    }

    public async Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        var disk = vm.Disks.FirstOrDefault(d => d.Id == diskId) ?? throw PortLayerException.NotFound($"ContainerVM {vmId} has no disk {diskId}");
        await RemoveDisksAsync(vm.Ref, [disk], cancellationToken).ConfigureAwait(false);
        await Faulted(() => _session!.ReconfigureVmAsync(vm.Ref, new VmConfigSpec
        {
            ExtraConfig = [new(VmExtraConfig.Disks, VmExtraConfig.WriteDisks([.. vm.Disks.Where(d => d.Id != diskId)]))],
        }, cancellationToken)).ConfigureAwait(false);
    }

    public async Task DestroyAsync(string vmId, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        var session = _session!;
        if (vm.Power == PowerState.On)
        {
            await Faulted(() => PowerAsync(vm.Ref, on: false, cancellationToken)).ConfigureAwait(false);
        }

        // Destroy_Task deletes every disk the VM has: shared ones (layers, volumes) are taken off first.
        await RemoveDisksAsync(vm.Ref, [.. vm.Disks.Where(d => d.Role != DiskRole.Scratch)], cancellationToken).ConfigureAwait(false);
        await Faulted(() => session.DestroyAsync(vm.Ref, cancellationToken)).ConfigureAwait(false);
        if (_channels.TryRemove(vmId, out var channel))
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }

        _vspc?.Forget(vm.InstanceUuid);
        _known.TryRemove(vmId, out _);
        Release(vm.ExtraConfigAll.GetValueOrDefault(VmExtraConfig.PublicAddress));
        await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, PowerState.Off, null, Gone: true), cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken) =>
        [.. (await InventoryAsync(cancellationToken).ConfigureAwait(false)).Select(v => v.ToContainerVm(_options.PublicAddressing))];

    public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
    {
        var vm = await ExistingAsync(vmId, cancellationToken).ConfigureAwait(false);
        if (vm.Power != PowerState.On)
        {
            throw PortLayerException.Conflict($"ContainerVM {vmId} is not running");
        }

        if (vm.Provisioning == ProvisioningPath.InstantClone)
        {
            return await Vspc(vm.ChannelPort).OpenAsync(vm.InstanceUuid, _options.ChannelTimeout, cancellationToken).ConfigureAwait(false);
        }

        var channel = _channels.GetOrAdd(vmId, _ => new ChannelListener(_options.ChannelListen, vm.ChannelPort));
        return await channel.OpenAsync(_options.ChannelTimeout, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<ContainerVmChange> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await SessionAsync(cancellationToken).ConfigureAwait(false);
        await foreach (var change in _changes.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return change;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _watch.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        foreach (var channel in _channels.Values)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }

        if (_vspc is not null)
        {
            await _vspc.DisposeAsync().ConfigureAwait(false);
        }

        if (_session is not null)
        {
            await _session.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
        _connect.Dispose();
        _parenting.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")]
    private static partial Regex SafeId();

    [GeneratedRegex("^[a-zA-Z][a-zA-Z0-9_-]{0,19}$")]
    private static partial Regex DiskId();

    private sealed record Places(ManagedObjectReference Pool, ManagedObjectReference Folder);

    private sealed record Template(string Name, ManagedObjectReference Vm, ManagedObjectReference Snapshot, int ControllerKey);

    private sealed record InventoryVm(
        ManagedObjectReference Ref,
        string VmId,
        string Name,
        PowerState Power,
        VmResources Resources,
        ProvisioningPath Provisioning,
        int ChannelPort,
        string InstanceUuid,
        IReadOnlyList<VmDisk> Disks,
        IReadOnlyDictionary<string, string> ExtraConfig,
        IReadOnlyDictionary<string, string> ExtraConfigAll)
    {
        public ContainerVm ToContainerVm(PublicAddressing? addressing) => new(
            VmId,
            Name,
            Power,
            Resources,
            Provisioning,
            ExtraConfig,
            addressing is not null && ExtraConfigAll.GetValueOrDefault(VmExtraConfig.PublicAddress) is { Length: > 0 } address ? new PublicNic(address, addressing.Gateway, addressing.Nameservers) { Mac = PublicMacOf(VmId) } : null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4501, Level = LogLevel.Information, Message = "ContainerVM {VmId} started by {Path}")]
        public static partial void Started(ILogger logger, string vmId, string path);

        [LoggerMessage(EventId = 4502, Level = LogLevel.Warning, Message = "ContainerVM {VmId}: no clone ({Fault}); cold booting it")]
        public static partial void Fallback(ILogger logger, string vmId, string fault);

        [LoggerMessage(EventId = 4503, Level = LogLevel.Warning, Message = "reading the vSphere inventory failed: {Reason}")]
        public static partial void WatchFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 4504, Level = LogLevel.Information, Message = "the VCH's parent {Parent} booted and waits for its children ({Seconds:0.0} s)")]
        public static partial void ParentReady(ILogger logger, string parent, double seconds);
    }
}
