using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.Backends.Qemu;

/// <summary>What the backend keeps about its VMs: the accelerator, the pool's reservations, the monitor of QEMU processes, and the checks of a spec.</summary>
public sealed partial class QemuBackend
{
    /// <summary>The accelerator to use: KVM only if a guest really boots with it here, else TCG.</summary>
    private async Task<string> AcceleratorAsync(CancellationToken cancellationToken)
    {
        if (_accelerator is not null)
        {
            return _accelerator;
        }

        _accelerator = _options.Accelerator switch
        {
            Accelerator.Kvm => "kvm",
            Accelerator.Tcg => "tcg",
            _ => File.Exists("/dev/kvm") && await KvmBootsAsync(cancellationToken).ConfigureAwait(false) ? "kvm" : "tcg",
        };
        Log.AcceleratorChosen(_logger, _accelerator);
        return _accelerator;
    }

    private async Task<bool> KvmBootsAsync(CancellationToken cancellationToken)
    {
        var folder = new VmFolder(Path.Combine(_options.StateDirectory, "kvm-probe"));
        Directory.CreateDirectory(folder.Path);
        int? pid = null;
        try
        {
            pid = await QemuProcess.StartAsync(_options.QemuBinary, QemuCommand.Build(_options, folder, new VmResources(1, 128L << 20), "kvm", [], GuestRam.Anonymous), folder, cancellationToken, _options.Isolation?.GroupId).ConfigureAwait(false);
            await using var channel = await TetherProbe.ConnectAsync(folder.Channel, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            return await TetherProbe.WaitForHelloAsync(channel, TimeSpan.FromSeconds(8), cancellationToken).ConfigureAwait(false) is not null;
        }
        catch (Exception ex) when (ex is QemuException or IOException or System.Net.Sockets.SocketException)
        {
            return false;
        }
        finally
        {
            QemuProcess.Kill(pid, folder);
        }
    }

    /// <summary>Claims the VM's share of the pool or refuses with what is in use.</summary>
    private void Reserve(VmRecord record)
    {
        lock (_capacity)
        {
            CheckFits(record.Resources);
            _running[record.VmId] = true;
        }
    }

    private void Release(VmRecord record) => _running[record.VmId] = false;

    /// <summary>
    /// Memory is the pool's hard limit, summed over running VMs. CPU is time-shared, as in a vSphere
    /// pool: vCPUs may be overcommitted, but no single VM may have more than the pool has.
    /// </summary>
    private void CheckFits(VmResources wanted)
    {
        var used = Folders().Select(f => f.Read()).Where(r => _running.GetValueOrDefault(r.VmId)).Select(r => r.Resources).ToList();
        var memory = used.Sum(r => r.MemoryBytes);
        var pool = _options.PoolLimit;
        if (wanted.Cpus > pool.Cpus || memory + wanted.MemoryBytes > pool.MemoryBytes)
        {
            throw PortLayerException.Conflict(
                $"the VCH pool cannot fit this ContainerVM: it needs {wanted.Cpus} vCPU and {wanted.MemoryBytes >> 20} MiB; " +
                $"the pool has {pool.Cpus} vCPU and {memory >> 20} of {pool.MemoryBytes >> 20} MiB are in use");
        }
    }

    /// <summary>How long a VM must run on after one of its share daemons ended before it is powered off.</summary>
    private static readonly TimeSpan ShareEndGrace = TimeSpan.FromSeconds(2);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> _shareEndedAt = new();

    private async Task MonitorAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (var (vmId, running) in _running)
            {
                var folder = FolderOf(vmId);
                if (running && !_starting.ContainsKey(vmId) && File.Exists(folder.RecordFile))
                {
                    var record = folder.Read();
                    if (!Runs(record, folder))
                    {
                        await NoteStoppedAsync(vmId).ConfigureAwait(false);
                    }
                    else if (SharedFolders.EndedShare(folder) is not { } share)
                    {
                        _shareEndedAt.TryRemove(vmId, out _);
                    }
                    else if (DateTime.UtcNow - _shareEndedAt.GetOrAdd(vmId, DateTime.UtcNow) >= ShareEndGrace)
                    {
                        // A host folder the container can no longer reach, where every access would
                        // hang: the VM is powered off, so the container ends (137) and its restart
                        // policy brings it back with its folders shared anew.
                        // A guest powering off ends its daemons first: only a VM still running a
                        // while later lost a share of its own.
                        _shareEndedAt.TryRemove(vmId, out _);
                        Log.ShareEnded(_logger, vmId, share);
                        Kill(record, folder);
                        await NoteStoppedAsync(vmId).ConfigureAwait(false);
                    }
                }
            }

            try
            {
                await Task.Delay(100, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task NoteStoppedAsync(string vmId)
    {
        if (_handedOver.TryRemove(vmId, out var unused))
        {
            await unused.DisposeAsync().ConfigureAwait(false);
        }

        _shareEndedAt.TryRemove(vmId, out _);
        if (_running.TryUpdate(vmId, false, true))
        {
            SharedFolders.Stop(FolderOf(vmId));
            Log.Stopped(_logger, vmId);
            await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, PowerState.Off, null, Gone: false)).ConfigureAwait(false);
        }
    }

    private IEnumerable<VmFolder> Folders() =>
        Directory.EnumerateDirectories(VmsDirectory).Select(d => new VmFolder(d)).Where(f => File.Exists(f.RecordFile));

    // Unix socket paths hold 107 bytes: the folder is named by a short digest of the id, not the id.
    private VmFolder FolderOf(string vmId) =>
        new(Path.Combine(VmsDirectory, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(vmId)))[..16]));

    private VmFolder Existing(string vmId)
    {
        var folder = FolderOf(vmId);
        return File.Exists(folder.RecordFile) ? folder : throw PortLayerException.NotFound($"no such ContainerVM: {vmId}");
    }

    /// <summary>Whether the record's QEMU runs; a ready clone moved into its folder was started in another.</summary>
    private static bool Runs(VmRecord record, VmFolder folder) => QemuProcess.IsRunning(record.Pid, record.LaunchedIn ?? folder.Path);

    private static void Kill(VmRecord record, VmFolder folder) => QemuProcess.Kill(record.Pid, record.LaunchedIn ?? folder.Path);

    private ContainerVm ToVm(VmRecord record, PowerState power) =>
        new(record.VmId, record.Name, power, record.Resources, record.Provisioning, record.ExtraConfig, record.Network is null ? null : QemuCommand.PublicNic with { HostAddress = _hostAddress });

    private NicBackends? NicsOf(VmRecord record) => record.Network is { } network ? new NicBackends(network, BridgeSocket) : null;

    private void Validate(ContainerVmSpec spec)
    {
        if (!SafeId().IsMatch(spec.ContainerId))
        {
            throw PortLayerException.InvalidParameter($"invalid ContainerVM id {spec.ContainerId}");
        }

        if (spec.Resources.Cpus < 1 || spec.Resources.MemoryBytes < 64L << 20)
        {
            throw PortLayerException.InvalidParameter("a ContainerVM needs at least 1 vCPU and 64 MiB");
        }

        if (spec.Resources.Cpus > _options.PoolLimit.Cpus || spec.Resources.MemoryBytes > _options.PoolLimit.MemoryBytes)
        {
            CheckFits(spec.Resources);
        }

        foreach (var disk in spec.Disks)
        {
            ValidateDisk(disk);
        }

        if (spec.Shares is { Count: > QemuCommand.MaxShares })
        {
            throw PortLayerException.InvalidParameter($"{spec.Shares.Count} host folders: a ContainerVM on the QEMU backend shares at most {QemuCommand.MaxShares}");
        }

        foreach (var share in spec.Shares ?? [])
        {
            SharedFolders.Prepare(share);
        }

        if (spec.Network is { PortGroups.Count: > 0 })
        {
            throw PortLayerException.InvalidParameter("container networks are vSphere port groups: the QEMU backend has none");
        }
    }

    private static void ValidateDisk(DiskAttachment disk)
    {
        // The id is a QEMU node name and the disk's SCSI serial (kept to 20 bytes, as virtio-blk's).
        if (!DiskId().IsMatch(disk.Id))
        {
            throw PortLayerException.InvalidParameter($"invalid disk id {disk.Id}: 1-20 letters, digits, '-' or '_'");
        }

        if (!File.Exists(disk.Path))
        {
            throw PortLayerException.NotFound($"disk {disk.Id}: no such file {disk.Path}");
        }
    }
}
