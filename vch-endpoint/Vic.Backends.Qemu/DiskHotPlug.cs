using System.Text.Json.Nodes;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>Disks added to and removed from a running VM over QMP, as LUNs of its one SCSI controller.</summary>
internal static class DiskHotPlug
{
    public static async Task AddAsync(QmpClient qmp, DiskAttachment disk, int target, CancellationToken cancellationToken)
    {
        await qmp.ExecuteAsync("blockdev-add", new JsonObject
        {
            ["driver"] = "vmdk",
            ["node-name"] = $"d-{disk.Id}",
            ["read-only"] = disk.ReadOnly,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = disk.Path, ["locking"] = "off" },
        }, cancellationToken).ConfigureAwait(false);
        await qmp.ExecuteAsync("device_add", QemuCommand.ScsiDisk(disk, target), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Unplugs the disk and lets go of its file (retried while the unplug still holds the node).</summary>
    public static async Task RemoveAsync(QmpClient qmp, string diskId, CancellationToken cancellationToken)
    {
        await qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = $"dev-{diskId}" }, cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = $"d-{diskId}" }, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (QemuException) when (attempt < 50)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
