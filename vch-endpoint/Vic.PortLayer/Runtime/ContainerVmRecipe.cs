using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Images;
using Vic.PortLayer.Vch;
using Vic.PortLayer.Volumes;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// What a container's ContainerVM is made of, and what its tether is told: the image's layer disks,
/// the scratch disk and volume disks, the shared folders of its host binds, the record it carries in
/// its extraConfig, and the spec the guest builds the container from. Reads the stores; changes nothing.
/// </summary>
internal sealed class ContainerVmRecipe(VchConfig config, ImageService images, VolumeService volumes, ContainerNetworking networking, TimeProvider time)
{
    /// <summary>The extraConfig key under which a ContainerVM names its container.</summary>
    public const string ContainerIdKey = "vic.container.id";

    /// <summary>The extraConfig key under which a ContainerVM carries its container's record.</summary>
    public const string ContainerRecordKey = "vic.container.record";

    /// <summary>A ContainerVM that only serves files needs little.</summary>
    private static readonly VmResources FilesVm = new(1, 256L << 20);

    /// <summary>Where each container's scratch disk and log live, one folder per container.</summary>
    public string ContainersDirectory => Path.Combine(config.DataDirectory, "containers");

    /// <summary>The ContainerVM that runs the container, on the host ports it publishes this run.</summary>
    public ContainerVmSpec RunVmOf(ContainerRecord record, IReadOnlyList<DiskAttachment> disks, VmResources resources) =>
        new(record.Id, $"{record.Name}-{record.Id[..12]}", resources, [.. disks], VmExtraConfigOf(record), networking.VmNetworkOf(record), SharesOf(record.Config));

    /// <summary>A ContainerVM over a stopped container's disks that serves its files and runs nothing.</summary>
    public ContainerVmSpec FilesVmOf(ContainerRecord record, IReadOnlyList<DiskAttachment> disks) =>
        new(record.Id, $"{record.Name}-files", FilesVm, [.. disks], new Dictionary<string, string> { [ContainerIdKey] = record.Id }, Shares: SharesOf(record.Config));

    /// <summary>
    /// The image's layer disks, bottom first, the container's scratch disk, and its volumes' disks.
    /// A read-only volume's disk is still writable to the VM: the guest mounts it read-only, and
    /// ext4 needs a writable device to replay a journal left by a VM that powered off.
    /// </summary>
    public List<DiskAttachment> DisksOf(ContainerRecord record)
    {
        var image = images.Catalog.Find(record.ImageId) ?? throw PortLayerException.NotFound($"No such image: {record.Image}");
        var scratch = Path.Combine(ContainersDirectory, record.Id, "scratch.vmdk");
        if (!File.Exists(scratch) && record.Status.StartedAt is null)
        {
            // A create the endpoint died in between its record and its disk's move into place (the
            // staged disk is swept at start). A container that never ran has an empty scratch disk:
            // made anew, it is the same disk.
            Directory.CreateDirectory(Path.GetDirectoryName(scratch)!);
            using var disk = new ImageStore.Layers.Ext4VmdkLayerDisk(scratch, config.LayerCapacityBytes);
            disk.Complete();
        }

        return [.. image.DiffIds
            .Select((diffId, i) => new DiskAttachment($"l{i}", images.Layers.Find(diffId)?.DiskPath ?? throw PortLayerException.NotFound($"layer {diffId} of {record.Image} is missing (docker info says why if it was set aside): a pulled image gets it back with docker pull, a built, committed or imported one must be made again"), DiskRole.ImageLayer, true))
            .Append(new DiskAttachment("scratch", scratch, DiskRole.Scratch, false))
            .Concat(record.Config.Mounts.Select((m, i) => (Mount: m, Index: i)).Where(v => !IsNfs(v.Mount))
                .Select(v => new DiskAttachment($"v{v.Index}", volumes.DiskPath(volumes.Get(v.Mount.Name).Name), DiskRole.Volume, ReadOnly: false)))];
    }

    /// <summary>What the tether of the ContainerVM that runs the container is told, once the VM is up and its public NIC known.</summary>
    /// <param name="keepAfterExit">A build step: the VM stays on after the process for its layer to be read.</param>
    public ContainerSpec RunSpecOf(ContainerRecord record, IReadOnlyList<DiskAttachment> disks, PublicNic? publicNic, bool keepAfterExit)
    {
        var network = networking.GuestNetworkOf(record, publicNic);
        return SpecOf(record, disks) with
        {
            Network = network,
            NfsVolumes = NfsVolumesOf(record, publicNic),
            Dns = networking.NameserversOf(record, publicNic),
            WallClockUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds(),
            ExtraHosts = [.. record.Config.ExtraHosts.Select(h => ExtraHost.HostsLine(h, publicNic?.HostAddress ?? network?.PublicGateway ?? record.Networks.Values.Select(e => e.Gateway).FirstOrDefault(g => g.Length > 0))), .. networking.LinkHostsOf(record)],
            PeerHosts = networking.PeerHostsOf(record),
            Env = [.. networking.LinkEnvironmentOf(record), .. record.Config.Env],
            KeepAfterExit = keepAfterExit,
        };
    }

    /// <summary>What the tether of a files ContainerVM is told: the root to make, nothing to run.</summary>
    public static ContainerSpec FilesSpecOf(ContainerRecord record, IReadOnlyList<DiskAttachment> disks) => SpecOf(record, disks) with { FilesOnly = true };

    /// <summary>Whether a mount is of a volume on an NFS store (mounted by the guest, not attached as a disk).</summary>
    public bool IsNfs(VolumeMount mount) => volumes.StoreOf(volumes.Get(mount.Name)).Nfs is not null;

    /// <summary>
    /// The record each ContainerVM carries in its extraConfig, written at every start. A VCH whose
    /// store was lost (a new appliance over the same vSphere pool) rebuilds its containers from them.
    /// </summary>
    private static Dictionary<string, string> VmExtraConfigOf(ContainerRecord record) => new()
    {
        [ContainerIdKey] = record.Id,
        [ContainerRecordKey] = System.Text.Json.JsonSerializer.Serialize(record, Store.StoreJson.Options),
    };

    private static ContainerSpec SpecOf(ContainerRecord record, IReadOnlyList<DiskAttachment> disks)
    {
        var config = record.Config;
        return new ContainerSpec
        {
            Id = record.Id,
            Args = config.Args,
            Env = config.Env,
            WorkingDir = config.WorkingDir.Length > 0 ? config.WorkingDir : "/",
            User = config.User,
            Hostname = config.Hostname.Length > 0 ? config.Hostname : record.Id[..12],
            Domainname = config.Domainname,
            Tty = config.Tty,
            OpenStdin = config.OpenStdin,
            Disks = [.. disks.Select(d => DiskSpecOf(d, record.Config))],
            Shares = [.. config.Binds.Select((b, i) => new ShareSpec(ShareTag(i), b.Target, b.ReadOnly, File.Exists(b.Source) ? Path.GetFileName(b.Source) : null))],
            ExtraHosts = config.ExtraHosts,
            Dns = config.Dns,
            DnsSearch = config.DnsSearch,
            Tmpfs = [.. config.Tmpfs.Select(t => new TmpfsSpec(t.Key, t.Value))],
            GroupAdd = config.GroupAdd,
            DnsOptions = config.DnsOptions,
            ReadOnlyRoot = config.Confinement.ReadOnlyRoot,
            Privileged = config.Confinement.Privileged,
            ShmSizeBytes = config.Confinement.ShmSizeBytes,
            Sysctls = config.Confinement.Sysctls,
            Devices = [.. config.Confinement.Devices.Select(d => new DeviceSpec(d.PathOnHost, d.PathInContainer, d.CgroupPermissions))],
            Confinement = config.Confinement.ToSpec(),
            EntropySeed = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        };
    }

    /// <summary>
    /// The container's NFS volumes as its guest mounts them. A server on the VCH host's loopback is
    /// reached through the public NIC's gateway, which is the host (slirp's 10.0.2.2).
    /// </summary>
    private List<NfsVolumeSpec> NfsVolumesOf(ContainerRecord record, PublicNic? publicNic) =>
        [.. record.Config.Mounts.Where(IsNfs).Select(m =>
        {
            var nfs = volumes.StoreOf(volumes.Get(m.Name)).Nfs!;
            var server = NfsVolumes.AddressOf(nfs);
            var reached = System.Net.IPAddress.IsLoopback(server) && publicNic is not null ? publicNic.Gateway : server.ToString();
            return new NfsVolumeSpec(reached, nfs.Port, nfs.VolumePath(m.Name), m.Target, m.ReadOnly);
        })];

    /// <summary>The container's host binds as the backend shares them with its ContainerVM.</summary>
    /// <remarks>A bound file is served through its folder, which is all a shared file system can share.</remarks>
    private static List<SharedFolder> SharesOf(ContainerConfig config) =>
        [.. config.Binds.Select((b, i) => File.Exists(b.Source)
            ? new SharedFolder(ShareTag(i), Path.GetDirectoryName(b.Source)!, b.ReadOnly, CreateIfMissing: false)
            : new SharedFolder(ShareTag(i), b.Source, b.ReadOnly, b.CreateSource))];

    private static string ShareTag(int index) => $"vic-bind-{index}";

    private static DiskSpec DiskSpecOf(DiskAttachment disk, ContainerConfig config)
    {
        var index = disk.Role == DiskRole.Scratch ? 0 : int.Parse(disk.Id[1..], System.Globalization.CultureInfo.InvariantCulture);
        return disk.Role switch
        {
            DiskRole.Scratch => new DiskSpec(disk.Id, "scratch", 0),
            DiskRole.Volume => new DiskSpec(disk.Id, "volume", index, config.Mounts[index].Target, config.Mounts[index].ReadOnly),
            _ => new DiskSpec(disk.Id, "layer", index),
        };
    }
}
