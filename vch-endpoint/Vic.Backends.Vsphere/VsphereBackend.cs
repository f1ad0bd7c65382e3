using System.Collections.Concurrent;
using System.Globalization;
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
public sealed partial class VsphereBackend : IComputeBackend, IAsyncDisposable, IDisposable
{
    private const int ControllerKey = -100;
    private const string TemplateSnapshot = "vic-base";

    private readonly VsphereBackendOptions _options;
    private readonly ILogger _logger;
    private readonly DiskImporter _disks;
    private readonly SemaphoreSlim _connect = new(1, 1);
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
    private string _provisioning = "not tried yet";

    public VsphereBackend(VsphereBackendOptions options, string stateDirectory, ILogger<VsphereBackend> logger)
    {
        _options = options;
        _logger = logger;
        Directory.CreateDirectory(stateDirectory);
        _disks = new DiskImporter(options, stateDirectory);
    }

    public string Name => "vsphere";

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

        var (disks, channel, publicAddress) = await PrepareAsync(session, spec, cancellationToken).ConfigureAwait(false);
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
        return new ContainerVm(spec.ContainerId, spec.Name, PowerState.Off, spec.Resources, ProvisioningPath.ColdBoot, spec.ExtraConfig, PublicNicOf(publicAddress));
    }

    public async Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        Validate(spec);
        var session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        await CheckFitsAsync(spec.Resources, cancellationToken).ConfigureAwait(false);
        var template = await TemplateAsync(session, cancellationToken).ConfigureAwait(false);
        var (disks, channel, publicAddress) = await PrepareAsync(session, spec, cancellationToken).ConfigureAwait(false);
        var places = _places!;

        string instantFault;
        try
        {
            // Servers without InstantClone_Task fault here, and so does one whose parent is not frozen.
            var made = await session.InstantCloneAsync(template.Vm, spec.Name + "-instant", places.Pool, places.Folder, [], cancellationToken).ConfigureAwait(false);
            await session.DestroyAsync(made, cancellationToken).ConfigureAwait(false);
            instantFault = "the clone of a parent that is not frozen cannot run a container";
        }
        catch (VimFaultException instant)
        {
            instantFault = instant.FaultName;
        }

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

                _provisioning = $"linked clone of {template.Name} from its snapshot (InstantClone_Task: {instantFault})";
                Know(spec.ContainerId, PowerState.On);
                Log.Started(_logger, spec.ContainerId, "linked clone");
                return new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.LinkedClone, spec.ExtraConfig, PublicNicOf(publicAddress));
            }
            catch (VimFaultException linked)
            {
                _provisioning = $"cold boot (InstantClone_Task: {instantFault}; CloneVM_Task: {linked.FaultName})";
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

        var channel = _channels.GetOrAdd(vmId, _ => new ChannelListener(_options.ChannelAddress, vm.ChannelPort));
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

        if (_session is not null)
        {
            await _session.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
        _connect.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Logs in once, finds (or makes) the VCH's pool and folder, and starts watching the inventory.</summary>
    private async Task<VimSession> SessionAsync(CancellationToken cancellationToken)
    {
        if (_session is not null)
        {
            return _session;
        }

        await _connect.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_session is not null)
            {
                return _session;
            }

            var session = await VimSession.ConnectAsync(_options.Session, _logger, cancellationToken).ConfigureAwait(false);
            var folder = await session.FindByInventoryPathAsync(_options.VmFolderPath, cancellationToken).ConfigureAwait(false)
                ?? throw new PortLayerException(ErrorKind.System, $"vSphere has no VM folder {_options.VmFolderPath}");
            var pool = await session.FindByInventoryPathAsync(_options.PoolPath, cancellationToken).ConfigureAwait(false);
            if (pool is null)
            {
                var parent = await session.FindByInventoryPathAsync($"{_options.ComputeResource}/Resources", cancellationToken).ConfigureAwait(false)
                    ?? throw new PortLayerException(ErrorKind.System, $"vSphere has no compute resource {_options.ComputeResource}");
                pool = await session.CreateResourcePoolAsync(parent, _options.VchName, new PoolLimits(null, _options.PoolLimit.MemoryBytes >> 20), cancellationToken).ConfigureAwait(false);
            }

            // The VCH's folder on the datastore holds its VMs' files and, in disks/, the imported disks.
            var datacenter = await session.FindByInventoryPathAsync(_options.Datacenter, cancellationToken).ConfigureAwait(false)
                ?? throw new PortLayerException(ErrorKind.System, $"vSphere has no datacenter {_options.Datacenter}");
            try
            {
                await session.MakeDirectoryAsync(Datastores.DatastorePath(_options.Datastore, $"{_options.VchName}/disks"), datacenter, cancellationToken).ConfigureAwait(false);
            }
            catch (VimFaultException fault) when (fault.FaultName == "FileAlreadyExists")
            {
            }

            _places = new Places(pool, folder);
            foreach (var vm in await ReadInventoryAsync(session, _places, cancellationToken).ConfigureAwait(false))
            {
                _known[vm.VmId] = vm.Power;
            }

            _session = session;
            _watch = Task.Run(WatchInventoryAsync, CancellationToken.None);
            return session;
        }
        finally
        {
            _connect.Release();
        }
    }

    /// <summary>The VCH's ContainerVMs as the server has them (the template and disk holders excluded).</summary>
    private async Task<IReadOnlyList<InventoryVm>> InventoryAsync(CancellationToken cancellationToken) =>
        await ReadInventoryAsync(await SessionAsync(cancellationToken).ConfigureAwait(false), _places!, cancellationToken).ConfigureAwait(false);

    private async Task<IReadOnlyList<InventoryVm>> ReadInventoryAsync(VimSession session, Places places, CancellationToken cancellationToken)
    {
        var found = await session.ListAsync(
            "VirtualMachine",
            ["name", "runtime.powerState", "config.extraConfig", "config.hardware.numCPU", "config.hardware.memoryMB"],
            cancellationToken,
            places.Pool).ConfigureAwait(false);
        var vms = new List<InventoryVm>();
        foreach (var vm in found)
        {
            var extra = VirtualMachines.ExtraConfigOf(vm.Properties.GetValueOrDefault("config.extraConfig"));
            if (extra.GetValueOrDefault(VmExtraConfig.Vch) != _options.VchName || !extra.TryGetValue(VmExtraConfig.VmId, out var vmId))
            {
                continue;
            }

            vms.Add(new InventoryVm(
                vm.Obj,
                vmId,
                vm.Text("name") ?? "",
                vm.Text("runtime.powerState") == "poweredOn" ? PowerState.On : vm.Text("runtime.powerState") == "suspended" ? PowerState.Suspended : PowerState.Off,
                new VmResources(int.Parse(vm.Text("config.hardware.numCPU") ?? "1", CultureInfo.InvariantCulture), long.Parse(vm.Text("config.hardware.memoryMB") ?? "0", CultureInfo.InvariantCulture) << 20),
                Enum.TryParse<ProvisioningPath>(extra.GetValueOrDefault(VmExtraConfig.Provisioning), out var path) ? path : ProvisioningPath.ColdBoot,
                int.Parse(extra.GetValueOrDefault(VmExtraConfig.ChannelPort) ?? "0", CultureInfo.InvariantCulture),
                VmExtraConfig.ReadDisks(extra),
                VmExtraConfig.Callers(extra),
                extra));
        }

        return vms;
    }

    /// <summary>Records a power state the backend itself brought about, and when.</summary>
    private void Know(string vmId, PowerState power)
    {
        _knownSince[vmId] = System.Diagnostics.Stopwatch.GetTimestamp();
        _known[vmId] = power;
    }

    /// <summary>Reads the inventory every interval: a VM powered off or deleted behind the VCH's back is reported.</summary>
    private async Task WatchInventoryAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.WatchInterval, _stop.Token).ConfigureAwait(false);
                var read = System.Diagnostics.Stopwatch.GetTimestamp();
                var now = (await InventoryAsync(_stop.Token).ConfigureAwait(false)).ToDictionary(v => v.VmId);
                foreach (var (vmId, power) in _known)
                {
                    // What the backend itself did after this read began is newer than the read.
                    if (_knownSince.TryGetValue(vmId, out var since) && since >= read)
                    {
                        continue;
                    }

                    if (!now.TryGetValue(vmId, out var vm))
                    {
                        if (_known.TryRemove(vmId, out _))
                        {
                            await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, PowerState.Off, null, Gone: true), _stop.Token).ConfigureAwait(false);
                        }
                    }
                    else if (vm.Power != power && _known.TryUpdate(vmId, vm.Power, power))
                    {
                        await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, vm.Power, null, Gone: false), _stop.Token).ConfigureAwait(false);
                    }
                }

                foreach (var vm in now.Values)
                {
                    _known.TryAdd(vm.VmId, vm.Power);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is VimFaultException or VimProtocolException or HttpRequestException)
            {
                Log.WatchFailed(_logger, ex.Message);
            }
        }
    }

    /// <summary>The VCH's template: a powered-off VM with the ISO and the controller, and its snapshot, made once.</summary>
    private async Task<Template> TemplateAsync(VimSession session, CancellationToken cancellationToken)
    {
        var name = $"{_options.VchName}-template";
        var vm = await session.FindByInventoryPathAsync($"{_options.VmFolderPath}/{name}", cancellationToken).ConfigureAwait(false);
        if (vm is null)
        {
            vm = await session.CreateVmAsync(_places!.Folder, _places.Pool, new VmConfigSpec
            {
                Name = name,
                GuestId = _options.GuestId,
                VmPathName = Datastores.DatastorePath(_options.Datastore, $"{_options.VchName}/{name}"),
                Cpus = 1,
                MemoryMb = 256,
                Devices = [DeviceChange.Add(new CdromIso(-1, _options.IsoPath)), DeviceChange.Add(new ParaVirtualScsiController(ControllerKey))],
                ExtraConfig = [new("vic.template", _options.VchName)],
            }, cancellationToken).ConfigureAwait(false);
        }

        var content = await session.RetrieveOneAsync(vm, ["snapshot.currentSnapshot"], cancellationToken).ConfigureAwait(false);
        var snapshot = content.Ref("snapshot.currentSnapshot") ?? await session.CreateSnapshotAsync(vm, TemplateSnapshot, cancellationToken).ConfigureAwait(false);
        var controller = (await session.ReadDevicesAsync(vm, cancellationToken).ConfigureAwait(false)).First(d => d.Type == "ParaVirtualSCSIController").Key;
        return new Template(name, vm, snapshot, controller);
    }

    /// <summary>Puts the VM's disks on the datastore and opens its channel port.</summary>
    private async Task<(List<VmDisk> Disks, ChannelListener Channel, string? PublicAddress)> PrepareAsync(VimSession session, ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        var publicAddress = await ClaimPublicAddressAsync(spec, cancellationToken).ConfigureAwait(false);
        var disks = new List<VmDisk>();
        foreach (var disk in spec.Disks)
        {
            var path = await _disks.EnsureAsync(session, _places!.Pool, _places.Folder, disk, cancellationToken).ConfigureAwait(false);
            disks.Add(new VmDisk(disk.Id, disk.Path, disk.Role, disk.ReadOnly, path));
        }

        var channel = new ChannelListener(_options.ChannelAddress, 0);
        if (_channels.TryRemove(spec.ContainerId, out var old))
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }

        _channels[spec.ContainerId] = channel;
        return (disks, channel, publicAddress);
    }

    /// <summary>
    /// An address for the VM's public NIC, when it has one and the port group is addressed: the
    /// lowest in the range no VM of the VCH holds (its extraConfig says) and no start in flight claimed.
    /// </summary>
    private async Task<string?> ClaimPublicAddressAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        if (spec.Network is not { Outbound: true } || _options.PublicNetwork is null || _options.PublicAddressing is not { } addressing)
        {
            return null;
        }

        var held = (await InventoryAsync(cancellationToken).ConfigureAwait(false)).Select(v => v.ExtraConfigAll.GetValueOrDefault(VmExtraConfig.PublicAddress)).ToHashSet();
        var subnet = Vic.PortLayer.Networks.Ipv4Subnet.Parse(addressing.Subnet);
        var range = addressing.Range.Length > 0 ? Vic.PortLayer.Networks.Ipv4Subnet.Parse(addressing.Range, "ip range") : subnet;
        var gateway = Vic.PortLayer.Networks.Ipv4Subnet.ToUInt(System.Net.IPAddress.Parse(addressing.Gateway));
        lock (_addressing)
        {
            for (var address = Math.Max(range.Network, subnet.Network + 1); address <= Math.Min(range.Broadcast, subnet.Broadcast - 1); address++)
            {
                var cidr = $"{Vic.PortLayer.Networks.Ipv4Subnet.ToAddress(address)}/{subnet.PrefixLength}";
                if (address != gateway && !held.Contains(cidr) && _claimedAddresses.Add(cidr))
                {
                    return cidr;
                }
            }
        }

        throw PortLayerException.Conflict($"no address left in the public network's range {range}");
    }

    private void Release(string? publicAddress)
    {
        if (publicAddress is not null)
        {
            lock (_addressing)
            {
                _claimedAddresses.Remove(publicAddress);
            }
        }
    }

    private PublicNic? PublicNicOf(string? publicAddress) =>
        publicAddress is null || _options.PublicAddressing is not { } addressing ? null : new PublicNic(publicAddress, addressing.Gateway, addressing.Nameservers);

    private VmConfigSpec ConfigOf(ContainerVmSpec spec, IReadOnlyList<VmDisk> disks, int channelPort, ProvisioningPath path, string? publicAddress) => new()
    {
        Name = spec.Name,
        Cpus = spec.Resources.Cpus,
        MemoryMb = spec.Resources.MemoryBytes >> 20,
        ExtraConfig =
        [
            .. spec.ExtraConfig,
            new(VmExtraConfig.Vch, _options.VchName),
            new(VmExtraConfig.VmId, spec.ContainerId),
            new(VmExtraConfig.Disks, VmExtraConfig.WriteDisks(disks)),
            new(VmExtraConfig.ChannelPort, channelPort.ToString(CultureInfo.InvariantCulture)),
            new(VmExtraConfig.Provisioning, path.ToString()),
            new(VmExtraConfig.PublicAddress, publicAddress ?? ""),

            // The guest finds its disks by serial: a SCSI disk has one only with UUIDs enabled.
            new("disk.EnableUUID", "TRUE"),
        ],
    };

    /// <summary>
    /// The NICs, in the guest's order: eth0 on the bridge port group, eth1 on the public one when the
    /// container may go out, then one per container network. vSphere makes the first two MACs.
    /// </summary>
    private IEnumerable<DeviceChange> Nics(ContainerVmSpec spec)
    {
        if (spec.Network is not { } network)
        {
            yield break;
        }

        if (network.OnBridge && _options.BridgeNetwork is { } bridge)
        {
            yield return DeviceChange.Add(new Vmxnet3Nic(-300, bridge));
        }

        if (network.Outbound && _options.PublicNetwork is { } outside)
        {
            yield return DeviceChange.Add(new Vmxnet3Nic(-301, outside));
        }

        // Container networks: the guest finds these NICs by their MACs, whatever their order.
        for (var i = 0; i < network.PortGroups.Count; i++)
        {
            yield return DeviceChange.Add(new Vmxnet3Nic(-310 - i, network.PortGroups[i].PortGroup, network.PortGroups[i].Mac));
        }
    }

    private NetworkSerialPort SerialPort(int port) => new(-200, $"tcp://{_options.ChannelAddress}:{port}");

    /// <summary>The disks on the controller, in order; unit 7 is the controller's own.</summary>
    private static IEnumerable<DeviceChange> DiskDevices(IReadOnlyList<VmDisk> disks, int controller) =>
        disks.Select((d, i) => DeviceChange.Add(new VirtualDiskDevice(-101 - i, d.DatastorePath, controller, i < 7 ? i : i + 1, 0, d.DiskMode)));

    private async Task RemoveDisksAsync(ManagedObjectReference vm, IReadOnlyList<VmDisk> disks, CancellationToken cancellationToken)
    {
        var session = _session!;
        var devices = await session.ReadDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var removals = devices.Where(d => d.Type == "VirtualDisk" && disks.Any(x => x.DatastorePath == d.FileName))
            .Select(d => DeviceChange.Remove(new VirtualDiskDevice(d.Key, d.FileName!, d.ControllerKey ?? 0, d.UnitNumber ?? 0, 0))).ToList();
        if (removals.Count > 0)
        {
            await Faulted(() => session.ReconfigureVmAsync(vm, new VmConfigSpec { Devices = removals }, cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Powers on or off. The state read a moment ago may be stale (the guest powers itself off when
    /// its container ends), so a VM found already where it was asked to go is not a failure.
    /// </summary>
    private async Task PowerAsync(ManagedObjectReference vm, bool on, CancellationToken cancellationToken)
    {
        var session = _session!;
        try
        {
            await (on ? session.PowerOnVmAsync(vm, cancellationToken) : session.PowerOffVmAsync(vm, cancellationToken)).ConfigureAwait(false);
        }
        catch (VimFaultException fault) when (fault.FaultName == "InvalidPowerState")
        {
            var now = (await session.RetrieveOneAsync(vm, ["runtime.powerState"], cancellationToken).ConfigureAwait(false)).Text("runtime.powerState");
            if (now != (on ? "poweredOn" : "poweredOff"))
            {
                throw;
            }
        }
    }

    private async Task<InventoryVm?> FindAsync(string vmId, CancellationToken cancellationToken) =>
        (await InventoryAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(v => v.VmId == vmId);

    private async Task<InventoryVm> ExistingAsync(string vmId, CancellationToken cancellationToken) =>
        await FindAsync(vmId, cancellationToken).ConfigureAwait(false) ?? throw PortLayerException.NotFound($"no such ContainerVM: {vmId}");

    /// <summary>Memory is the pool's hard limit over powered-on VMs; no single VM may have more vCPUs than the pool.</summary>
    private async Task CheckFitsAsync(VmResources wanted, CancellationToken cancellationToken)
    {
        CheckLimits(wanted);
        var used = (await InventoryAsync(cancellationToken).ConfigureAwait(false)).Where(v => v.Power == PowerState.On).Sum(v => v.Resources.MemoryBytes);
        if (used + wanted.MemoryBytes > _options.PoolLimit.MemoryBytes)
        {
            throw NoFit(wanted, used);
        }
    }

    private void CheckLimits(VmResources wanted)
    {
        if (wanted.Cpus > _options.PoolLimit.Cpus || wanted.MemoryBytes > _options.PoolLimit.MemoryBytes)
        {
            throw NoFit(wanted, 0);
        }
    }

    private PortLayerException NoFit(VmResources wanted, long used) => PortLayerException.Conflict(
        $"the VCH pool cannot fit this ContainerVM: it needs {wanted.Cpus} vCPU and {wanted.MemoryBytes >> 20} MiB; " +
        $"the pool has {_options.PoolLimit.Cpus} vCPU and {used >> 20} of {_options.PoolLimit.MemoryBytes >> 20} MiB are in use");

    private static void Validate(ContainerVmSpec spec)
    {
        if (!SafeId().IsMatch(spec.ContainerId))
        {
            throw PortLayerException.InvalidParameter($"invalid ContainerVM id {spec.ContainerId}");
        }

        if (spec.Resources.Cpus < 1 || spec.Resources.MemoryBytes < 64L << 20)
        {
            throw PortLayerException.InvalidParameter("a ContainerVM needs at least 1 vCPU and 64 MiB");
        }

        if (spec.Shares is { Count: > 0 })
        {
            throw PortLayerException.InvalidParameter("bind mounts of host paths are not supported on vSphere: a ContainerVM does not run on the endpoint's host; use a volume");
        }

        foreach (var disk in spec.Disks)
        {
            ValidateDisk(disk);
        }
    }

    private static void ValidateDisk(DiskAttachment disk)
    {
        if (!DiskId().IsMatch(disk.Id))
        {
            throw PortLayerException.InvalidParameter($"invalid disk id {disk.Id}: 1-20 letters, digits, '-' or '_'");
        }

        if (!File.Exists(disk.Path))
        {
            throw PortLayerException.NotFound($"disk {disk.Id}: no such file {disk.Path}");
        }
    }

    /// <summary>vSphere faults the port layer understands: a wrong power state is a conflict, the rest a failure naming the fault.</summary>
    private static async Task Faulted(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (VimFaultException fault) when (fault.FaultName is "InvalidPowerState" or "InvalidState" or "TaskInProgress")
        {
            throw PortLayerException.Conflict($"vSphere refused: {fault.Message}");
        }
        catch (VimFaultException fault)
        {
            throw new PortLayerException(ErrorKind.System, $"vSphere fault {fault.FaultName}: {fault.ServerMessage}");
        }
    }

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
            addressing is not null && ExtraConfigAll.GetValueOrDefault(VmExtraConfig.PublicAddress) is { Length: > 0 } address ? new PublicNic(address, addressing.Gateway, addressing.Nameservers) : null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4501, Level = LogLevel.Information, Message = "ContainerVM {VmId} started by {Path}")]
        public static partial void Started(ILogger logger, string vmId, string path);

        [LoggerMessage(EventId = 4502, Level = LogLevel.Warning, Message = "ContainerVM {VmId}: no clone ({Fault}); cold booting it")]
        public static partial void Fallback(ILogger logger, string vmId, string fault);

        [LoggerMessage(EventId = 4503, Level = LogLevel.Warning, Message = "reading the vSphere inventory failed: {Reason}")]
        public static partial void WatchFailed(ILogger logger, string reason);
    }
}
