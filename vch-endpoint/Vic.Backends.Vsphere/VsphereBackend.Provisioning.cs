using System.Globalization;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>What a ContainerVM is made of on vSphere: the template, disks, NICs, the serial channel and the public address; and the checks of a spec.</summary>
public sealed partial class VsphereBackend
{
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

    /// <summary>Puts the VM's disks on the datastore and claims its public address.</summary>
    private async Task<(List<VmDisk> Disks, string? PublicAddress)> PrepareAsync(VimSession session, ContainerVmSpec spec, CancellationToken cancellationToken)
    {
        var publicAddress = await ClaimPublicAddressAsync(spec, cancellationToken).ConfigureAwait(false);
        var disks = new List<VmDisk>();
        foreach (var disk in spec.Disks)
        {
            var path = await _disks.EnsureAsync(session, _places!.Pool, _places.Folder, disk, cancellationToken).ConfigureAwait(false);
            disks.Add(new VmDisk(disk.Id, disk.Path, disk.Role, disk.ReadOnly, path));
        }

        return (disks, publicAddress);
    }

    /// <summary>Opens the port the VM's own serial port connects to.</summary>
    private async Task<ChannelListener> OpenChannelPortAsync(string vmId)
    {
        var channel = new ChannelListener(_options.ChannelListen, 0);
        if (_channels.TryRemove(vmId, out var old))
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }

        _channels[vmId] = channel;
        return channel;
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

    private PublicNic? PublicNicOf(string vmId, string? publicAddress) =>
        publicAddress is null || _options.PublicAddressing is not { } addressing ? null : new PublicNic(publicAddress, addressing.Gateway, addressing.Nameservers) { Mac = PublicMacOf(vmId) };

    /// <summary>The public NIC's MAC: manual, of VMware's range, from the VM's id, so the guest and vSphere agree on it whatever the clone's path.</summary>
    internal static string PublicMacOf(string vmId) => VmwareMacs.Derive(vmId + "/public");

    /// <summary>The bridge NIC's MAC: the container's (the port layer takes it from <see cref="IMacRange"/>); one outside VMware's range (a container made before) is left to vSphere.</summary>
    private static string? BridgeMacOf(VmNetworkSpec network) => VmwareMacs.IsManual(network.BridgeMac) ? network.BridgeMac : null;

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
            yield return DeviceChange.Add(new Vmxnet3Nic(-300, bridge, BridgeMacOf(network)));
        }

        if (network.Outbound && _options.PublicNetwork is { } outside)
        {
            yield return DeviceChange.Add(new Vmxnet3Nic(-301, outside, PublicMacOf(spec.ContainerId)));
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
        // The parent runs in the pool too, and counts against its limit as vSphere counts it.
        var used = (await InventoryAsync(cancellationToken).ConfigureAwait(false)).Where(v => v.Power == PowerState.On).Sum(v => v.Resources.MemoryBytes)
            + (_parent is null ? 0 : ParentResources.MemoryBytes);
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
    private static Task Faulted(Func<Task> call) => Faulted(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    });

    private static async Task<T> Faulted<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
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
}
