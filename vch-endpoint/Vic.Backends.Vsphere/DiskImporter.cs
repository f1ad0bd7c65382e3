using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Vic.Disks.Vmdk;
using Vic.PortLayer.Compute;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>
/// Puts the port layer's disks (sparse VMDKs on the endpoint's host) on the datastore, once each:
/// an <c>ImportVApp</c> of a holder VM with one disk, the disk sent as streamOptimized (only its
/// written grains, compressed) through the import lease, and the holder unregistered so the disk
/// stays behind as <c>[ds] vch/disks/&lt;key&gt;/&lt;key&gt;.vmdk</c>. From then on the datastore copy
/// is the disk: a scratch disk or a volume keeps what its VMs wrote there.
/// </summary>
internal sealed class DiskImporter(VsphereBackendOptions options, string stateDirectory)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();

    /// <summary>The datastore path of <paramref name="disk"/>, importing it first if it is not there yet.</summary>
    public async Task<string> EnsureAsync(VimSession session, ManagedObjectReference pool, ManagedObjectReference folder, DiskAttachment disk, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(disk.Path))))[..16];
        var relative = $"{options.VchName}/disks/{key}/{key}.vmdk";
        var datastorePath = Datastores.DatastorePath(options.Datastore, relative);
        var gate = _gates.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await session.FileExistsAsync(options.Datacenter, options.Datastore, relative, cancellationToken).ConfigureAwait(false))
            {
                return datastorePath;
            }

            await ImportAsync(session, pool, folder, disk, key, datastorePath, cancellationToken).ConfigureAwait(false);
            return datastorePath;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task ImportAsync(VimSession session, ManagedObjectReference pool, ManagedObjectReference folder, DiskAttachment disk, string key, string datastorePath, CancellationToken cancellationToken)
    {
        var encoded = Path.Combine(stateDirectory, $"import-{key}.vmdk");
        long capacity;
        using (var source = VmdkReader.Open(disk.Path))
        await using (var output = File.Create(encoded))
        {
            capacity = source.Length;
            StreamOptimizedWriter.Write(source, output);
        }

        try
        {
            var holder = new VmConfigSpec
            {
                Name = $"{options.VchName}-disk-{key}",
                GuestId = options.GuestId,
                VmPathName = Datastores.DatastorePath(options.Datastore, $"{options.VchName}/disks/{key}"),
                Cpus = 1,
                MemoryMb = 4,
                Devices =
                [
                    DeviceChange.Add(new ParaVirtualScsiController(-100)),
                    DeviceChange.Add(new VirtualDiskDevice(-101, datastorePath, -100, 0, capacity / 1024), "create"),
                ],
            };
            var lease = await session.ImportVAppAsync(pool, folder, holder, cancellationToken).ConfigureAwait(false);
            try
            {
                var device = lease.Devices.FirstOrDefault(d => d.IsDisk) ?? throw new VimProtocolException("the import lease has no disk to upload");
                await using (var upload = File.OpenRead(encoded))
                {
                    await session.UploadStreamOptimizedAsync(device, upload, cancellationToken).ConfigureAwait(false);
                }

                await session.CompleteAsync(lease, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await session.AbortAsync(lease, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            await session.UnregisterVmAsync(lease.Vm, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(encoded);
        }
    }
}
