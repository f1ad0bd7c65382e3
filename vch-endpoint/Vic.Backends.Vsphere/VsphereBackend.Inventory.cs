using System.Globalization;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>The vCenter session, the inventory of the VCH's VMs and its watch.</summary>
public sealed partial class VsphereBackend
{
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
                var parent = await session.FindByInventoryPathAsync(_options.ParentPoolPath, cancellationToken).ConfigureAwait(false)
                    ?? throw new PortLayerException(ErrorKind.System, $"vSphere has no compute resource or pool {_options.ComputeResource}");
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
            ["name", "runtime.powerState", "config.extraConfig", "config.hardware.numCPU", "config.hardware.memoryMB", "config.instanceUuid"],
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
                vm.Text("config.instanceUuid") ?? "",
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
}
