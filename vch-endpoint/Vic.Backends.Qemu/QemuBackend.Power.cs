using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.Backends.Qemu;

/// <summary>Power, size and disks of a running ContainerVM, and its channel.</summary>
public sealed partial class QemuBackend
{
    public async Task PowerOnAsync(string vmId, CancellationToken cancellationToken)
    {
        var folder = Existing(vmId);
        var record = folder.Read();
        if (Runs(record, folder))
        {
            return;
        }

        var accelerator = await AcceleratorAsync(cancellationToken).ConfigureAwait(false);
        _starting[vmId] = true;
        Reserve(record);
        try
        {
            await SharedFolders.StartAsync(_options.VirtioFsDaemon, folder, record.Shares, cancellationToken).ConfigureAwait(false);
            var pid = await QemuProcess.StartAsync(_options.QemuBinary, QemuCommand.Build(_options, folder, record.Resources, accelerator, record.Disks, GuestRam.Anonymous, nics: NicsOf(record), shares: record.Shares), folder, cancellationToken, _options.Isolation?.GroupId).ConfigureAwait(false);
            _ready.Starting(pid);
            folder.Write(record with { Pid = pid, StartedAt = DateTimeOffset.UtcNow, Provisioning = ProvisioningPath.ColdBoot, ScsiTargets = QemuCommand.ScsiTargets(record.Disks) });
        }
        catch
        {
            Release(record);
            SharedFolders.Stop(folder);
            throw;
        }
        finally
        {
            _starting.TryRemove(vmId, out _);
        }

        Log.Started(_logger, vmId, "cold boot");
    }

    public async Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken)
    {
        var folder = Existing(vmId);
        var record = folder.Read();
        if (!Runs(record, folder))
        {
            return;
        }

        if (!force)
        {
            try
            {
                // quit flushes the disks' caches; the guest gets no say, which is what power-off means.
                await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                await qmp.ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is QemuException or IOException or System.Net.Sockets.SocketException)
            {
                // A QEMU that cannot answer is stopped the hard way below.
            }
        }

        for (var i = 0; i < 100 && Runs(record, folder); i++)
        {
            if (force || i == 50)
            {
                Kill(record, folder);
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        await NoteStoppedAsync(vmId).ConfigureAwait(false);
    }

    public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken)
    {
        var folder = Existing(vmId);
        var record = folder.Read();
        if (Runs(record, folder))
        {
            throw PortLayerException.Conflict("cannot change the CPU or memory of a running ContainerVM on the QEMU backend; stop it first");
        }

        CheckFits(resources);
        folder.Write(record with { Resources = resources });
        return Task.CompletedTask;
    }

    public async Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken)
    {
        ValidateDisk(disk);
        var folder = Existing(vmId);
        var record = folder.Read();
        if (record.Disks.Any(d => d.Id == disk.Id))
        {
            throw PortLayerException.Conflict($"ContainerVM {vmId} already has a disk {disk.Id}");
        }

        var targets = new Dictionary<string, int>(record.ScsiTargets);
        if (Runs(record, folder))
        {
            var target = Enumerable.Range(0, record.Disks.Count + 1).Select(QemuCommand.ScsiTarget).First(t => !targets.ContainsValue(t));
            await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            await DiskHotPlug.AddAsync(qmp, disk, target, cancellationToken).ConfigureAwait(false);
            targets[disk.Id] = target;
        }

        folder.Write(record with { Disks = [.. record.Disks, disk], ScsiTargets = targets });
    }

    public async Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken)
    {
        var folder = Existing(vmId);
        var record = folder.Read();
        if (record.Disks.All(d => d.Id != diskId))
        {
            throw PortLayerException.NotFound($"ContainerVM {vmId} has no disk {diskId}");
        }

        if (Runs(record, folder))
        {
            await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            await DiskHotPlug.RemoveAsync(qmp, diskId, cancellationToken).ConfigureAwait(false);
        }

        folder.Write(record with { Disks = [.. record.Disks.Where(d => d.Id != diskId)], ScsiTargets = record.ScsiTargets.Where(t => t.Key != diskId).ToDictionary() });
    }

    public async Task DestroyAsync(string vmId, CancellationToken cancellationToken)
    {
        var folder = Existing(vmId);
        await PowerOffAsync(vmId, force: true, cancellationToken).ConfigureAwait(false);
        SharedFolders.Stop(folder);
        Directory.Delete(folder.Path, recursive: true);
        folder.Forget();
        _running.TryRemove(vmId, out _);
        await _changes.Writer.WriteAsync(new ContainerVmChange(vmId, PowerState.Off, null, Gone: true), cancellationToken).ConfigureAwait(false);
    }
}
