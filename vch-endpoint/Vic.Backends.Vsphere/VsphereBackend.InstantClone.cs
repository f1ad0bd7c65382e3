using System.Globalization;
using Microsoft.Extensions.Logging;
using Vic.Backends.Vsphere.Vspc;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>
/// Instant clones: the VCH's parent is a VM booted once from the ISO, its tether waiting for a spec
/// after its Hello; every ContainerVM of the parent's size and NICs is forked from it by
/// <c>InstantClone_Task</c>, gets its disks hot-added and is handed its spec like any other. A
/// child keeps its parent's serial port (vSphere lets an instant clone change only file-backed
/// ones), so that port names the VCH's vSPC as its proxy and the VMX says which VM it is.
/// </summary>
public sealed partial class VsphereBackend
{
    /// <summary>The service URI the parent's serial port, and so every child's, asks the vSPC for.</summary>
    private string VspcService => $"vic/{_options.VchName}";

    private string ParentName => $"{_options.VchName}-parent";

    /// <summary>The parent's size: the port layer's default ContainerVM. Other sizes are linked clones.</summary>
    private static readonly VmResources ParentResources = new(1, 256L << 20);

    /// <summary>
    /// Forks the parent for <paramref name="spec"/>; null when this ContainerVM cannot be one of its
    /// children (another size, other NICs) or the server has no instant clone, with the reason in <paramref name="why"/>.
    /// </summary>
    private async Task<(ManagedObjectReference? Vm, string Why)> TryInstantCloneAsync(VimSession session, ContainerVmSpec spec, IReadOnlyList<VmDisk> disks, string? publicAddress, CancellationToken cancellationToken)
    {
        if (!_options.InstantClone)
        {
            return (null, "turned off");
        }

        if (spec.Resources != ParentResources)
        {
            return (null, $"{spec.Resources.Cpus} vCPU and {spec.Resources.MemoryBytes >> 20} MiB is not the parent's size");
        }

        if (!ParentNics().SequenceEqual(Nics(spec).Select(d => ((Vmxnet3Nic)d.Device).NetworkName)))
        {
            return (null, "its NICs are not the parent's");
        }

        var parent = await ParentAsync(session, cancellationToken).ConfigureAwait(false);
        var vspc = Vspc(parent.ChannelPort);
        var config = ConfigOf(spec, disks, vspc.Port, ProvisioningPath.InstantClone, publicAddress).ExtraConfig;
        ManagedObjectReference child;
        try
        {
            child = await session.InstantCloneAsync(parent.Vm, spec.Name, _places!.Pool, _places.Folder, config, cancellationToken).ConfigureAwait(false);
        }
        catch (VimFaultException fault)
        {
            return (null, $"InstantClone_Task: {fault.FaultName}");
        }

        if (disks.Count > 0)
        {
            // The child runs already: its disks are hot-added to the parent's controller, where the tether waits for them.
            await Faulted(() => session.ReconfigureVmAsync(child, new VmConfigSpec { Devices = [.. DiskDevices(disks, parent.ControllerKey)] }, cancellationToken)).ConfigureAwait(false);
        }

        return (child, "");
    }

    /// <summary>The port groups of the parent's NICs, in order: those of a container on the bridge that may go out.</summary>
    private IEnumerable<string> ParentNics() => new[] { _options.BridgeNetwork, _options.PublicNetwork }.OfType<string>();

    /// <summary>The VCH's vSPC, on the port its parent's serial port names (a new one when there is no parent yet).</summary>
    private VspcListener Vspc(int port)
    {
        lock (_addressing)
        {
            return _vspc ??= new VspcListener(_options.ChannelAddress, port, VspcService, TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// The VCH's parent, powered on and past its tether's Hello: made and booted the first time,
    /// found afterwards (its extraConfig says it is ready), booted again if an admin powered it off.
    /// </summary>
    private async Task<ParentVm> ParentAsync(VimSession session, CancellationToken cancellationToken)
    {
        await _parenting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var vm = await session.FindByInventoryPathAsync($"{_options.VmFolderPath}/{ParentName}", cancellationToken).ConfigureAwait(false);
            if (vm is not null)
            {
                var found = await session.RetrieveOneAsync(vm, ["runtime.powerState", "config.extraConfig", "config.instanceUuid"], cancellationToken).ConfigureAwait(false);
                var extra = VirtualMachines.ExtraConfigOf(found.Properties.GetValueOrDefault("config.extraConfig"));
                var port = int.Parse(extra.GetValueOrDefault(VmExtraConfig.ChannelPort) ?? "0", CultureInfo.InvariantCulture);
                var controller = (await session.ReadDevicesAsync(vm, cancellationToken).ConfigureAwait(false)).First(d => d.Type == "ParaVirtualSCSIController").Key;
                var parent = new ParentVm(vm, found.Text("config.instanceUuid") ?? "", port, controller);
                if (found.Text("runtime.powerState") == "poweredOn" && extra.GetValueOrDefault(VmExtraConfig.ParentReady) == "true")
                {
                    return parent;
                }

                Vspc(port);
                await Faulted(() => PowerAsync(vm, on: false, cancellationToken)).ConfigureAwait(false);
                return await BootParentAsync(session, parent, cancellationToken).ConfigureAwait(false);
            }

            var vspc = Vspc(0);
            var made = await Faulted(() => session.CreateVmAsync(_places!.Folder, _places.Pool, new VmConfigSpec
            {
                Name = ParentName,
                GuestId = _options.GuestId,
                VmPathName = Datastores.DatastorePath(_options.Datastore, $"{_options.VchName}/{ParentName}"),
                Cpus = ParentResources.Cpus,
                MemoryMb = ParentResources.MemoryBytes >> 20,
                Devices =
                [
                    DeviceChange.Add(new CdromIso(-1, _options.IsoPath)),
                    DeviceChange.Add(new ParaVirtualScsiController(ControllerKey)),
                    DeviceChange.Add(new NetworkSerialPort(-200, VspcService, Client: false, ProxyUri: $"telnet://{_options.ChannelAddress}:{vspc.Port}")),
                    .. ParentNics().Select((network, i) => DeviceChange.Add(new Vmxnet3Nic(-300 - i, network))),
                ],
                ExtraConfig = [new(VmExtraConfig.ParentOf, _options.VchName), new(VmExtraConfig.ChannelPort, vspc.Port.ToString(CultureInfo.InvariantCulture)), new("disk.EnableUUID", "TRUE")],
            }, cancellationToken)).ConfigureAwait(false);
            var uuid = (await session.RetrieveOneAsync(made, ["config.instanceUuid"], cancellationToken).ConfigureAwait(false)).Text("config.instanceUuid") ?? "";
            var key = (await session.ReadDevicesAsync(made, cancellationToken).ConfigureAwait(false)).First(d => d.Type == "ParaVirtualSCSIController").Key;
            return await BootParentAsync(session, new ParentVm(made, uuid, vspc.Port, key), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _parenting.Release();
        }
    }

    /// <summary>Powers the parent on and waits for its tether's Hello: from then on it waits for a spec, where its children start.</summary>
    private async Task<ParentVm> BootParentAsync(VimSession session, ParentVm parent, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await Faulted(() => PowerAsync(parent.Vm, on: true, cancellationToken)).ConfigureAwait(false);
        // The parent's connection is closed after its Hello (its VMX connects again and waits, unused).
        await using (var channel = await Vspc(parent.ChannelPort).OpenAsync(parent.InstanceUuid, _options.ChannelTimeout, cancellationToken).ConfigureAwait(false))
        {
            using var tether = new TetherConnection(channel);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(_options.ChannelTimeout);
            var frame = await tether.ReadAsync(limit.Token).ConfigureAwait(false);
            if (frame?.Type != FrameType.Hello)
            {
                throw new Vic.PortLayer.Errors.PortLayerException(Vic.PortLayer.Errors.ErrorKind.System, $"the VCH's parent {ParentName} did not say Hello (it sent {frame?.Type.ToString() ?? "nothing"})");
            }
        }

        await Faulted(() => session.ReconfigureVmAsync(parent.Vm, new VmConfigSpec { ExtraConfig = [new(VmExtraConfig.ParentReady, "true")] }, cancellationToken)).ConfigureAwait(false);
        Log.ParentReady(_logger, ParentName, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        return parent;
    }

    private sealed record ParentVm(ManagedObjectReference Vm, string InstanceUuid, int ChannelPort, int ControllerKey);
}
