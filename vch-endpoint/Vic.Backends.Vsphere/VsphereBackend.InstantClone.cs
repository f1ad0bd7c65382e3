using System.Globalization;
using Microsoft.Extensions.Logging;
using Vic.Backends.Vsphere.Vspc;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
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

    /// <summary>How long after a parent failed to boot starts go the linked-clone way without trying it again.</summary>
    private static readonly TimeSpan ParentRetryAfter = TimeSpan.FromMinutes(1);

    private ParentVm? _parent;
    private ParentFailure? _parentFailed;

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

        if (RecentParentFailure() is { } failed)
        {
            return (null, failed);
        }

        for (var attempt = 0; ; attempt++)
        {
            ParentVm parent;
            try
            {
                parent = await ParentAsync(session, cancellationToken).ConfigureAwait(false);
            }
            catch (ParentFailedException recently)
            {
                return (null, recently.Message);
            }
            catch (Exception ex) when (ex is TimeoutException or PortLayerException or VimFaultException or IOException or System.Net.Sockets.SocketException)
            {
                // Every start would wait for it again: a parent that did not boot is left alone a while.
                _parentFailed = new ParentFailure(System.Diagnostics.Stopwatch.GetTimestamp(), ex.Message);
                return (null, $"the parent did not boot: {ex.Message}");
            }

            var config = ConfigOf(spec, disks, parent.ChannelPort, ProvisioningPath.InstantClone, publicAddress).ExtraConfig;
            ManagedObjectReference child;
            try
            {
                child = await session.InstantCloneAsync(parent.Vm, spec.Name, _places!.Pool, _places.Folder, config, cancellationToken, [.. ChildNics(spec, parent)]).ConfigureAwait(false);
            }
            catch (VimFaultException fault) when (attempt == 0 && fault.FaultName is "InvalidPowerState" or "ManagedObjectNotFound" or "InvalidState")
            {
                // The parent changed behind the VCH's back (powered off, removed): found or made again.
                Interlocked.CompareExchange(ref _parent, null, parent);
                continue;
            }
            catch (VimFaultException fault)
            {
                return (null, $"InstantClone_Task: {fault.FaultName}");
            }

            try
            {
                if (disks.Count > 0)
                {
                    // The child runs already: its disks are hot-added to the parent's controller, where the tether waits for them.
                    await session.ReconfigureVmAsync(child, new VmConfigSpec { Devices = [.. DiskDevices(disks, parent.ControllerKey)] }, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (VimFaultException fault)
            {
                // A child without its disks is no ContainerVM: it goes, and the linked clone is made instead.
                await DiscardAsync(session, child).ConfigureAwait(false);
                return (null, $"adding its disks to the instant clone: {fault.FaultName}");
            }
            catch
            {
                // Whatever else ended the start (the connection, a cancel), no child is left running under the container's name.
                await DiscardAsync(session, child).ConfigureAwait(false);
                throw;
            }

            return (child, "");
        }
    }

    private static async Task DiscardAsync(VimSession session, ManagedObjectReference vm)
    {
        try
        {
            await session.PowerOffVmAsync(vm, CancellationToken.None).ConfigureAwait(false);
        }
        catch (VimFaultException)
        {
        }

        try
        {
            await session.DestroyAsync(vm, CancellationToken.None).ConfigureAwait(false);
        }
        catch (VimFaultException)
        {
            // Left for vic-machine delete, which removes every VM of the pool.
        }
    }

    /// <summary>
    /// The child's NICs are its parent's, MACs and all: each is given the container's MAC, which the
    /// tether gives the guest's NIC in turn, so no two children share one on a port group.
    /// </summary>
    private IEnumerable<DeviceChange> ChildNics(ContainerVmSpec spec, ParentVm parent)
    {
        var wanted = Nics(spec).Select(d => (Vmxnet3Nic)d.Device).ToList();
        for (var i = 0; i < wanted.Count && i < parent.NicKeys.Count; i++)
        {
            if (wanted[i].MacAddress is not null)
            {
                yield return DeviceChange.Edit(wanted[i] with { Key = parent.NicKeys[i] });
            }
        }
    }

    /// <summary>The port groups of the parent's NICs, in order: those of a container on the bridge that may go out.</summary>
    private IEnumerable<string> ParentNics() => new[] { _options.BridgeNetwork, _options.PublicNetwork }.OfType<string>();

    /// <summary>The VCH's vSPC, on the port its parent's serial port names (a new one when there is no parent yet).</summary>
    private VspcListener Vspc(int port)
    {
        lock (_addressing)
        {
            return _vspc ??= new VspcListener(_options.ChannelListen, port, VspcService, TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// The VCH's parent, powered on and past its tether's Hello: made and booted the first time,
    /// found afterwards (its extraConfig says it is ready), booted again if an admin powered it off.
    /// </summary>
    private async Task<ParentVm> ParentAsync(VimSession session, CancellationToken cancellationToken)
    {
        if (_parent is { } known)
        {
            return known;
        }

        await _parenting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Starts that queued behind one whose parent did not boot do not each boot it again.
            if (RecentParentFailure() is { } failed)
            {
                throw new ParentFailedException(failed);
            }

            return _parent ??= await FindOrBootParentAsync(session, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _parenting.Release();
        }
    }

    private async Task<ParentVm> FindOrBootParentAsync(VimSession session, CancellationToken cancellationToken)
    {
        var vm = await session.FindByInventoryPathAsync($"{_options.VmFolderPath}/{ParentName}", cancellationToken).ConfigureAwait(false);
        if (vm is not null)
        {
            var found = await session.RetrieveOneAsync(vm, ["runtime.powerState", "config.extraConfig", "config.instanceUuid"], cancellationToken).ConfigureAwait(false);
            var extra = VirtualMachines.ExtraConfigOf(found.Properties.GetValueOrDefault("config.extraConfig"));
            var port = int.Parse(extra.GetValueOrDefault(VmExtraConfig.ChannelPort) ?? "0", CultureInfo.InvariantCulture);
            var devices = await session.ReadDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
            if (!devices.Where(d => d.Type == "VirtualVmxnet3").OrderBy(d => d.Key).Select(d => d.Xml.Element(Vic.Vim25.Soap.VimXml.Vim + "backing")?.Element(Vic.Vim25.Soap.VimXml.Vim + "deviceName")?.Value).SequenceEqual(ParentNics()))
            {
                // Made when the VCH had other networks: its children would not have the NICs their containers need.
                throw PortLayerException.Conflict($"the VCH's parent {ParentName} has NICs other than the VCH's networks; remove it and it is made again");
            }

            var parent = new ParentVm(vm, found.Text("config.instanceUuid") ?? "", port, devices);
            if (found.Text("runtime.powerState") == "poweredOn" && extra.GetValueOrDefault(VmExtraConfig.ParentReady) == "true")
            {
                return parent;
            }

            // Not known to wait after its Hello (an admin powered it off or on, an endpoint died
            // during its boot): booted afresh, its readiness forgotten until it says Hello again.
            Vspc(port);
            await Faulted(() => session.ReconfigureVmAsync(vm, new VmConfigSpec { ExtraConfig = [new(VmExtraConfig.ParentReady, "")] }, cancellationToken)).ConfigureAwait(false);
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
        return await BootParentAsync(session, new ParentVm(made, uuid, vspc.Port, await session.ReadDevicesAsync(made, cancellationToken).ConfigureAwait(false)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Powers the parent on and waits for its tether's Hello: from then on it waits for a spec, where its children start.</summary>
    private async Task<ParentVm> BootParentAsync(VimSession session, ParentVm parent, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        // A connection its VMX made before this boot is no way to the tether that boots now.
        var vspc = Vspc(parent.ChannelPort);
        vspc.Forget(parent.InstanceUuid);
        await Faulted(() => PowerAsync(parent.Vm, on: true, cancellationToken)).ConfigureAwait(false);

        // The parent's connection is closed after its Hello (its VMX connects again and waits, unused).
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_options.ChannelTimeout);
        try
        {
            // A connection that ends before the Hello was not the booting guest's: the next one is waited for.
            while (!await SaidHelloAsync(await vspc.OpenAsync(parent.InstanceUuid, _options.ChannelTimeout, limit.Token).ConfigureAwait(false), limit.Token).ConfigureAwait(false))
            {
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the VCH's parent {ParentName} did not say Hello within {_options.ChannelTimeout.TotalSeconds:0} s");
        }

        await Faulted(() => session.ReconfigureVmAsync(parent.Vm, new VmConfigSpec { ExtraConfig = [new(VmExtraConfig.ParentReady, "true")] }, cancellationToken)).ConfigureAwait(false);
        Log.ParentReady(_logger, ParentName, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        return parent;
    }

    private static async Task<bool> SaidHelloAsync(Stream channel, CancellationToken cancellationToken)
    {
        await using (channel)
        {
            using var tether = new TetherConnection(channel);
            Frame? frame;
            do
            {
                frame = await tether.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            while (frame is not null && frame.Type != FrameType.Hello);
            return frame is not null;
        }
    }

    /// <summary>Why the parent did not boot, when that was less than <see cref="ParentRetryAfter"/> ago.</summary>
    private string? RecentParentFailure() =>
        _parentFailed is { } failed && System.Diagnostics.Stopwatch.GetElapsedTime(failed.At) < ParentRetryAfter
            ? $"the parent did not boot, {System.Diagnostics.Stopwatch.GetElapsedTime(failed.At).TotalSeconds:0} s ago: {failed.Why}"
            : null;

    private sealed record ParentFailure(long At, string Why);

    private sealed class ParentFailedException(string message) : Exception(message);

    /// <summary>The parent, with the keys of its controller and of its NICs (in order) that its children have too.</summary>
    private sealed record ParentVm(ManagedObjectReference Vm, string InstanceUuid, int ChannelPort, int ControllerKey, IReadOnlyList<int> NicKeys)
    {
        public ParentVm(ManagedObjectReference vm, string instanceUuid, int channelPort, IReadOnlyList<DeviceInfo> devices)
            : this(vm, instanceUuid, channelPort, devices.First(d => d.Type == "ParaVirtualSCSIController").Key, [.. devices.Where(d => d.Type == "VirtualVmxnet3").OrderBy(d => d.Key).Select(d => d.Key)])
        {
        }
    }
}
