using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>Start: the ContainerVM made, its tether given the spec, the start committed once the process runs.</summary>
public sealed partial class ContainerService
{
    public Task StartAsync(string idOrName, CancellationToken cancellationToken) => StartCoreAsync(idOrName, byPolicy: false, cancellationToken);

    /// <param name="byPolicy">A restart by policy: it keeps a stop that came while it started (docker start clears it).</param>
    private async Task StartCoreAsync(string idOrName, bool byPolicy, CancellationToken cancellationToken)
    {
        var backend = _backend ?? throw PortLayerException.NotImplemented("this VCH has no compute backend (start it with --backend qemu)");
        var record = _containers.Resolve(idOrName);
        record.Status.Start(record.Ref, _time.GetUtcNow());
        var disks = DisksOf(record);
        var resources = ResourcesFor(record.Config);
        foreach (var mount in record.Config.Mounts.Where(m => !IsNfs(m)))
        {
            // A VMDK volume is one disk: one ContainerVM at a time may attach it.
            if (_containers.List().FirstOrDefault(c => c.Id != record.Id && c.Status.IsRunning && c.Config.Mounts.Any(m => m.Name == mount.Name)) is { } holder)
            {
                throw PortLayerException.Conflict($"volume {mount.Name} is in use by running container {holder.Name}: a VMDK volume attaches to one ContainerVM at a time");
            }
        }

        var gate = _runtime.Of(record.Id).VmGate;
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var releasedEarly = false;
        var madeVm = false;
        RunningContainer? mine = null;
        ContainerLog? log = null;
        try
        {
            // Checked again under the gate: a start, rm or restart by policy may have come first.
            record = _containers.Resolve(record.Id);
            record.Status.Start(record.Ref, _time.GetUtcNow());
            if (_runtime.RunningOf(record.Id) is not null)
            {
                throw PortLayerException.NotModified($"container {record.Id} is already started");
            }

            if ((await backend.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
            {
                // A VM of an earlier run: its scratch disk stays, the machine is made anew.
                await backend.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }

            log = LogOf(record.Id);
            log.Open();
            madeVm = true;
            mine = await StartVmAsync(backend, record, disks, resources, log, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Attached clients must not wait for output that will never come.
            log?.Close();
            if (madeVm && _runtime.Find(record.Id)?.TakeRunning() is { } half)
            {
                // The failed start answers for this run: its channel's end is not an exit.
                half.Abandoned = true;
                half.Dispose();
            }

            if (madeVm && record.Config.AutoRemove)
            {
                // dockerd removes a --rm container whose start failed; docker run -d --rm waits for that.
                gate.Release();
                releasedEarly = true;
                var removing = _containers.Transition(record.Id, (who, s) => s.BeginRemoval(who, force: true), null);
                await ForgetAsync(removing, CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }
        finally
        {
            if (!releasedEarly)
            {
                gate.Release();
            }
        }

        ContainerRecord started;
        try
        {
            started = _containers.Transition(
                record.Id,
                (who, s) => s.Start(who, _time.GetUtcNow()),
                "start",
                alongside: r => r with { ManuallyStopped = byPolicy && r.ManuallyStopped, Health = r.Config.Healthcheck is { Disabled: false } ? new ContainerHealth(ContainerHealth.Starting, 0, []) : null });
        }
        finally
        {
            // Committed (or refused: an rm -f came first); either way its exit may now be handled.
            // This start's own channel, whatever is registered now: its exit waits for nothing else.
            mine?.StartSettled.TrySetResult();
        }

        Log.Started(_logger, record.Id);
        if (mine is not null && ReferenceEquals(_runtime.RunningOf(record.Id), mine))
        {
            _healthchecks.Start(started, mine);
        }
    }

    /// <returns>The channel to the tether of the ContainerVM this start made.</returns>
    private async Task<RunningContainer> StartVmAsync(IComputeBackend backend, ContainerRecord record, List<DiskAttachment> disks, VmResources resources, ContainerLog log, CancellationToken cancellationToken)
    {
        var config = record.Config;
        var ports = ResolvePorts(record);
        record = _containers.Change(record.Id, r => r with { Ports = ports }, null);
        var vm = await backend.CloneAsync(new ContainerVmSpec(record.Id, $"{record.Name}-{record.Id[..12]}", resources, disks, VmExtraConfigOf(record), VmNetworkOf(record), SharesOf(record.Config)), cancellationToken).ConfigureAwait(false);
        _runtime.Of(record.Id).PublicNic = vm.Public;
        var answering = System.Diagnostics.Stopwatch.StartNew();
        var (running, answer) = await ConnectTetherAsync(backend, record.Id, log, cancellationToken, starting: true).ConfigureAwait(false);
        if (answer != TetherAnswer.Hello || running is null)
        {
            if (running is not null)
            {
                await ForgetAsync(running).ConfigureAwait(false);
            }

            await backend.PowerOffAsync(record.Id, force: true, CancellationToken.None).ConfigureAwait(false);
            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {record.Id} did not answer its tether's channel ({answer})");
        }

        Log.TetherAnswered(_logger, record.Id, answering.Elapsed.TotalMilliseconds);

        var network = GuestNetworkOf(record, vm.Public);
        var spec = SpecOf(record, disks) with
        {
            Network = network,
            NfsVolumes = NfsVolumesOf(record, vm.Public),
            Dns = NameserversOf(record, vm.Public),
            WallClockUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            ExtraHosts = [.. config.ExtraHosts.Select(h => ExtraHost.HostsLine(h, vm.Public?.HostAddress ?? network?.PublicGateway ?? record.Networks.Values.Select(e => e.Gateway).FirstOrDefault(g => g.Length > 0))), .. LinkHostsOf(record), .. PeerHostsOf(record)],
            Env = [.. LinkEnvironmentOf(record), .. config.Env],
            KeepAfterExit = _runtime.Of(record.Id).BuildStep is not null,
        };
        if (record.Networks.Values.Any(e => e.IpAddress.Length > 0))
        {
            _fabric?.Join(BridgePortOf(record));
        }

        await running.Writer.WriteAsync(FrameType.Spec, 0, Payloads.Json(spec, InteractionJson.Default.ContainerSpec), cancellationToken).ConfigureAwait(false);
        if (config.OpenStdin)
        {
            _ = Task.Run(() => RelayStdinAsync(running, _runtime.Of(record.Id).Stdin), CancellationToken.None);
        }

        // dockerd's start returns once the process runs: logs and published ports right after are
        // the process's. (A process that never starts ends the run with its exit code instead.)
        // A root that takes longer (an NFS server that does not answer) is waited for no further.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(running.MainStarted.Task, running.Pump!, Task.Delay(MainStartTimeout, limit.Token)).ConfigureAwait(false);
        await limit.CancelAsync().ConfigureAwait(false);
        return running;
    }

    /// <summary>
    /// The image's layer disks, bottom first, the container's scratch disk, and its volumes' disks.
    /// A read-only volume's disk is still writable to the VM: the guest mounts it read-only, and
    /// ext4 needs a writable device to replay a journal left by a VM that powered off.
    /// </summary>
    private List<DiskAttachment> DisksOf(ContainerRecord record)
    {
        var image = _images.Catalog.Find(record.ImageId) ?? throw PortLayerException.NotFound($"No such image: {record.Image}");
        var scratch = Path.Combine(ContainersDirectory, record.Id, "scratch.vmdk");
        if (!File.Exists(scratch) && record.Status.StartedAt is null)
        {
            // A create the endpoint died in between its record and its disk's move into place (the
            // staged disk is swept at start). A container that never ran has an empty scratch disk:
            // made anew, it is the same disk.
            Directory.CreateDirectory(Path.GetDirectoryName(scratch)!);
            using var disk = new ImageStore.Layers.Ext4VmdkLayerDisk(scratch, _config.LayerCapacityBytes);
            disk.Complete();
        }

        return [.. image.DiffIds
            .Select((diffId, i) => new DiskAttachment($"l{i}", _images.Layers.Find(diffId)?.DiskPath ?? throw PortLayerException.NotFound($"layer {diffId} of {record.Image} is missing (docker info says why if it was set aside): a pulled image gets it back with docker pull, a built, committed or imported one must be made again"), DiskRole.ImageLayer, true))
            .Append(new DiskAttachment("scratch", scratch, DiskRole.Scratch, false))
            .Concat(record.Config.Mounts.Select((m, i) => (Mount: m, Index: i)).Where(v => !IsNfs(v.Mount))
                .Select(v => new DiskAttachment($"v{v.Index}", _volumes.DiskPath(_volumes.Get(v.Mount.Name).Name), DiskRole.Volume, ReadOnly: false)))];
    }

    private static ContainerSpec SpecOf(ContainerRecord record, List<DiskAttachment> disks)
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
            Devices = [.. config.Confinement.Devices.Select(d => new DeviceSpec(d.PathOnHost, d.PathInContainer))],
            Confinement = config.Confinement.ToSpec(),
            EntropySeed = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        };
    }

    private bool IsNfs(Volumes.VolumeMount mount) => _volumes.StoreOf(_volumes.Get(mount.Name)).Nfs is not null;

    /// <summary>
    /// The container's NFS volumes as its guest mounts them. A server on the VCH host's loopback is
    /// reached through the public NIC's gateway, which is the host (slirp's 10.0.2.2).
    /// </summary>
    private List<NfsVolumeSpec> NfsVolumesOf(ContainerRecord record, PublicNic? publicNic) =>
        [.. record.Config.Mounts.Where(IsNfs).Select(m =>
        {
            var nfs = _volumes.StoreOf(_volumes.Get(m.Name)).Nfs!;
            var server = Volumes.NfsVolumes.AddressOf(nfs);
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
