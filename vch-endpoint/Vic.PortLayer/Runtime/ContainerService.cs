using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Vic.ImageStore.Layers;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Images;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Runtime;

/// <summary>What <c>docker wait</c> waits for.</summary>
public enum WaitCondition
{
    NotRunning,
    NextExit,
    Removed,
}

/// <summary>A client attached to a container: its live output, and its stdin if it asked for it.</summary>
public sealed record AttachedStreams(System.Threading.Channels.ChannelReader<OutputChunk> Output, bool Tty, Func<ReadOnlyMemory<byte>, Task> WriteStdin, Func<Task> CloseStdin);

/// <summary>
/// Runs containers: makes their scratch disks, turns a start into a ContainerVM (an instant clone
/// where the backend can) with the image's layer disks, hands the tether its spec, relays output to
/// the log and to attached clients, and records the exit. One instance per VCH.
/// </summary>
public sealed partial class ContainerService : IDisposable
{
    /// <summary>Memory of a ContainerVM when the container asks for none.</summary>
    public const long DefaultMemoryBytes = 256L << 20;

    private readonly VchConfig _config;
    private readonly ContainerCatalog _containers;
    private readonly ImageService _images;
    private readonly Volumes.VolumeService _volumes;
    private readonly IComputeBackend? _backend;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ContainerRuntimeTable _runtime;
    private readonly Networks.NetworkService _networks;
    private readonly IBridgeFabric? _fabric;

    public ContainerService(VchConfig config, ContainerCatalog containers, ImageService images, Volumes.VolumeService volumes, Networks.NetworkService networks, IComputeBackend? backend, TimeProvider time, ILogger logger)
    {
        _config = config;
        _containers = containers;
        _images = images;
        _volumes = volumes;
        _networks = networks;
        _backend = backend;
        _fabric = backend as IBridgeFabric;
        _time = time;
        _logger = logger;
        _runtime = new ContainerRuntimeTable(OpenLog, containers.Contains);
        if (backend is not null)
        {
            _ = Task.Run(() => WatchVmsAsync(backend));
        }
    }

    /// <summary>How much per-container state the runtime holds: flat across any number of containers come and gone.</summary>
    public (int Containers, int ExecSessions) HeldState => (_runtime.Count, _runtime.ExecCount);

    private string ContainersDirectory => Path.Combine(_config.DataDirectory, "containers");

    /// <summary>Creates a container from an image the VCH holds, with the image's config merged in as dockerd does.</summary>
    public ContainerRecord Create(string? name, string image, IReadOnlyDictionary<string, string> labels, ContainerConfig requested)
    {
        var found = _images.Catalog.Find(image)
            ?? throw PortLayerException.NotFound($"No such image: {(Registry.ImageReference.TryParse(image, out var reference, out _) ? reference.FamiliarString : image)}");
        var imageConfig = _images.Catalog.ReadConfig(found.Id);
        var config = ImageDefaults.Merge(requested, imageConfig);
        if (config.Args.Count == 0)
        {
            throw PortLayerException.InvalidParameter("no command specified");
        }

        if (config.Confinement.CpusNeeded > _config.PoolLimit.Cpus)
        {
            // dockerd's words, with the VCH's CPUs for the host's: the ContainerVM is sized to hold the set.
            throw PortLayerException.InvalidParameter($"Requested CPUs are not available - requested {config.Confinement.CpusetCpus}, available: 0-{_config.PoolLimit.Cpus - 1} (--cpuset-cpus)");
        }

        config = WithVolumesFrom(config);
        config = config with { Mounts = ResolveMounts(config.Mounts, ImageDefaults.Volumes(imageConfig), config.Binds, config.VolumeDriver) };

        var mergedLabels = new Dictionary<string, string>(found.Labels);
        foreach (var (key, value) in labels)
        {
            mergedLabels[key] = value;
        }

        var record = _networks.CreateConnected(config, c => _containers.Create(new NewContainer(name, image, mergedLabels, c, found.Id)));
        var folder = Directory.CreateDirectory(Path.Combine(ContainersDirectory, record.Id)).FullName;
        using (var scratch = new Ext4VmdkLayerDisk(Path.Combine(folder, "scratch.vmdk"), _config.LayerCapacityBytes))
        {
            scratch.Complete();
        }

        return record;
    }

    public Task StartAsync(string idOrName, CancellationToken cancellationToken) => StartCoreAsync(idOrName, byPolicy: false, cancellationToken);

    /// <param name="byPolicy">A restart by policy: it keeps a stop that came while it started (docker start clears it).</param>
    private async Task StartCoreAsync(string idOrName, bool byPolicy, CancellationToken cancellationToken)
    {
        var backend = _backend ?? throw PortLayerException.NotImplemented("this VCH has no compute backend (start it with --backend qemu)");
        var record = _containers.Resolve(idOrName);
        record.Status.Start(record.Ref, _time.GetUtcNow());
        var disks = DisksOf(record);
        var resources = ResourcesOf(record.Config);
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
            await StartVmAsync(backend, record, disks, resources, log, cancellationToken).ConfigureAwait(false);
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
            started = _containers.Change(
                record.Id,
                r => r with { Status = r.Status.Start(r.Ref, _time.GetUtcNow()), ManuallyStopped = byPolicy && r.ManuallyStopped, Health = r.Config.Healthcheck is { Disabled: false } ? new ContainerHealth(ContainerHealth.Starting, 0, []) : null },
                "start");
        }
        finally
        {
            // Committed (or refused: an rm -f came first); either way its exit may now be handled.
            if (_runtime.RunningOf(record.Id) is { } settled)
            {
                settled.StartSettled.TrySetResult();
            }
        }

        Log.Started(_logger, record.Id);
        if (_runtime.RunningOf(record.Id) is { } running)
        {
            StartHealthchecks(started, running);
        }
    }

    private async Task StartVmAsync(IComputeBackend backend, ContainerRecord record, List<DiskAttachment> disks, VmResources resources, ContainerLog log, CancellationToken cancellationToken)
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
            ExtraHosts = [.. config.ExtraHosts.Select(h => ExtraHost.HostsLine(h, network?.PublicGateway ?? record.Networks.Values.Select(e => e.Gateway).FirstOrDefault(g => g.Length > 0))), .. LinkHostsOf(record), .. PeerHostsOf(record)],
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
    }

    /// <summary>
    /// The image's layer disks, bottom first, the container's scratch disk, and its volumes' disks.
    /// A read-only volume's disk is still writable to the VM: the guest mounts it read-only, and
    /// ext4 needs a writable device to replay a journal left by a VM that powered off.
    /// </summary>
    private List<DiskAttachment> DisksOf(ContainerRecord record)
    {
        var image = _images.Catalog.Find(record.ImageId) ?? throw PortLayerException.NotFound($"No such image: {record.Image}");
        return [.. image.DiffIds
            .Select((diffId, i) => new DiskAttachment($"l{i}", _images.Layers.Find(diffId)?.DiskPath ?? throw PortLayerException.NotFound($"layer {diffId} of {record.Image} is missing"), DiskRole.ImageLayer, true))
            .Append(new DiskAttachment("scratch", Path.Combine(ContainersDirectory, record.Id, "scratch.vmdk"), DiskRole.Scratch, false))
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

    /// <summary>Prepares a <c>docker exec</c> in a running container; it runs when started.</summary>
    public ExecSession CreateExec(string idOrName, ExecOptions options)
    {
        var record = _containers.Resolve(idOrName);
        if (_runtime.RunningOf(record.Id) is null || record.Status is not RunningStatus)
        {
            throw PortLayerException.Conflict(record.Status is PausedStatus ? $"Container {record.Id} is paused, unpause the container before exec" : $"Container {record.Id} is not running");
        }

        if (options.Args.Count == 0)
        {
            throw PortLayerException.InvalidParameter("No exec command specified");
        }

        var exec = new ExecSession(Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), record.Id, options);
        _runtime.AddExec(exec);
        _containers.Transition(record.Id, (_, s) => s, $"exec_create: {string.Join(' ', options.Args)}", new Dictionary<string, string> { ["execID"] = exec.Id });
        return exec;
    }

    public ExecSession Exec(string execId) =>
        _runtime.FindExec(execId) ?? throw PortLayerException.NotFound($"No such exec instance: {execId}");

    /// <summary>Starts an exec session in its container's VM.</summary>
    /// <param name="detached">Nobody reads its output (docker exec -d): none is kept.</param>
    public async Task StartExecAsync(string execId, bool detached, CancellationToken cancellationToken)
    {
        var exec = Exec(execId);
        if (exec.Running || exec.ExitCode is not null)
        {
            throw PortLayerException.Conflict($"Error: Exec command {execId} has already run");
        }

        if (_runtime.RunningOf(exec.ContainerId) is not { } running)
        {
            throw PortLayerException.Conflict($"Container {exec.ContainerId} is not running");
        }

        exec.Session = running.NextSession();
        running.Execs[exec.Session] = exec;
        exec.MarkRunning(keepOutput: !detached);
        await running.Writer.WriteAsync(FrameType.Exec, exec.Session, Payloads.Json(exec.Spec, InteractionJson.Default.ExecSpec), cancellationToken).ConfigureAwait(false);
        _containers.Transition(exec.ContainerId, (_, s) => s, $"exec_start: {string.Join(' ', exec.Options.Args)}", new Dictionary<string, string> { ["execID"] = exec.Id });
        if (exec.Options.AttachStdin)
        {
            _ = Task.Run(() => RelaySessionStdinAsync(running, exec), CancellationToken.None);
        }
    }

    public async Task ResizeExecAsync(string execId, int rows, int columns, CancellationToken cancellationToken)
    {
        var exec = Exec(execId);
        if (_runtime.RunningOf(exec.ContainerId) is { } running && exec.Running)
        {
            await running.Writer.WriteAsync(FrameType.Resize, exec.Session, Payloads.Size(rows, columns), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task ResizeAsync(string idOrName, int rows, int columns, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        if (_runtime.RunningOf(record.Id) is { } running)
        {
            await running.Writer.WriteAsync(FrameType.Resize, 0, Payloads.Size(rows, columns), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the condition; returns the exit code docker prints.</summary>
    public async Task<int> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        var state = _runtime.Of(record.Id);
        if (condition == WaitCondition.NotRunning && !record.Status.IsRunning)
        {
            return record.Status.ExitCode;
        }

        var exit = condition == WaitCondition.Removed ? state.Removed.Task : state.NextExit;
        return await exit.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// What inspect shows of a container's processes: the guest pid of its main process while it
    /// runs (vic-exec, which plays the part runc's init does), else 0, and its exec sessions' ids.
    /// </summary>
    public (int Pid, IReadOnlyList<string> ExecIds) ProcessesOf(string id)
    {
        var state = _runtime.Find(id);
        var pid = state?.Running is { } running && running.MainStarted.Task.IsCompletedSuccessfully ? running.MainStarted.Task.Result : 0;
        return (pid, state is null ? [] : [.. state.Execs.Keys]);
    }

    /// <summary>Attaches to a container's live output (and stdin); allowed before start, as docker run does.</summary>
    public AttachedStreams Attach(string idOrName)
    {
        var record = _containers.Transition(idOrName, (_, s) => s, "attach");
        // Stdin may come before the start (docker run -i sends it at once): it waits in a queue.
        var state = _runtime.Of(record.Id);
        var stdin = state.Stdin;
        return new AttachedStreams(
            state.Log.Subscribe(),
            record.Config.Tty,
            data => stdin.Writer.WriteAsync(data.ToArray()).AsTask(),
            () => record.Config.StdinOnce || !record.Config.Tty ? stdin.Writer.WriteAsync(null).AsTask() : Task.CompletedTask);
    }

    /// <summary>The log so far and, while the container runs, its live continuation.</summary>
    public (IReadOnlyList<OutputChunk> History, System.Threading.Channels.ChannelReader<OutputChunk>? Live) Logs(string idOrName, bool follow)
    {
        var record = _containers.Resolve(idOrName);
        if (!record.Config.Log.Readable)
        {
            // dockerd's answer (501) for a driver that keeps nothing.
            throw PortLayerException.NotImplemented("configured logging driver does not support reading");
        }

        var log = _runtime.Of(record.Id).Log;
        var live = follow && record.Status.IsRunning ? log.Subscribe() : null;
        return ([.. log.ReadAll()], live);
    }

    public async Task KillAsync(string idOrName, string signal, CancellationToken cancellationToken)
    {
        var record = _containers.Resolve(idOrName);
        record.Status.EnsureKillable(record.Ref);
        var number = Signals.Parse(signal);
        if (!await SettlePendingRestartAsync(record.Id, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        if (_runtime.RunningOf(record.Id) is { } running)
        {
            await SignalAsync(running, number, cancellationToken).ConfigureAwait(false);
            if (number == SigKill)
            {
                // As dockerd: a SIGKILL answers once the container has stopped, so inspect right after sees it exited.
                await AwaitRunEndAsync(running, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private const int SigKill = 9;

    /// <summary>Signals the main process of this run (not of a later one a restart made).</summary>
    private async Task SignalAsync(RunningContainer running, int number, CancellationToken cancellationToken)
    {
        try
        {
            await running.Writer.WriteAsync(FrameType.Signal, 0, Payloads.Int32(number), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The channel ended as the signal went: the process ends with its VM, and the pump records that.
        }

        _containers.Transition(running.ContainerId, (_, s) => s, "kill", new Dictionary<string, string> { ["signal"] = number.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Waits for this run's end to be recorded; a VM that does not end within 10 s is powered off.</summary>
    private async Task AwaitRunEndAsync(RunningContainer running, CancellationToken cancellationToken)
    {
        var ended = running.RunEnded.Task;
        if (await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false) != ended && _backend is not null)
        {
            await _backend.PowerOffAsync(running.ContainerId, force: true, cancellationToken).ConfigureAwait(false);
        }

        await ended.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends the stop signal, waits up to the timeout, then kills: docker stop.</summary>
    /// <param name="signal">The stop signal of this request (<c>docker stop -s</c>); null for the container's own.</param>
    public async Task StopAsync(string idOrName, int? timeoutSeconds, CancellationToken cancellationToken, string? signal = null)
    {
        var record = _containers.Resolve(idOrName);
        if (signal is not null)
        {
            Signals.Parse(signal); // a bad one is refused before anything changes
        }

        record.Status.EnsureStoppable(record.Ref);
        if (!await SettlePendingRestartAsync(record.Id, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        record = _containers.Resolve(record.Id);

        if (record.Status is PausedStatus && _runtime.RunningOf(record.Id) is { } paused)
        {
            // A frozen process cannot act on its stop signal: thaw it first, as dockerd does.
            await paused.RequestAsync(FrameType.Unpause, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            _containers.Transition(record.Id, (who, s) => s.Unpause(who), "unpause");
        }

        if (_runtime.RunningOf(record.Id) is { } running)
        {
            // The run this stop found is the one it ends: a restart that comes after is not waited for.
            var ended = running.RunEnded.Task;
            var timeout = TimeSpan.FromSeconds(timeoutSeconds ?? record.Config.StopTimeout ?? 10);
            await SignalAsync(running, Signals.Parse(signal ?? record.Config.StopSignal), cancellationToken).ConfigureAwait(false);
            if (await Task.WhenAny(ended, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false) != ended)
            {
                await SignalAsync(running, SigKill, cancellationToken).ConfigureAwait(false);
            }

            await AwaitRunEndAsync(running, cancellationToken).ConfigureAwait(false);
        }

        _containers.Transition(record.Id, (_, s) => s, "stop");
    }

    public async Task RemoveAsync(string idOrName, bool force, CancellationToken cancellationToken, bool removeVolumes = false)
    {
        var record = _containers.Resolve(idOrName);
        record = _containers.Transition(record.Id, (who, s) => s.BeginRemoval(who, force), null);
        if (CancelPendingRestart(record.Id, markExited: false).Starting is { } starting)
        {
            // The ContainerVM a restart is starting goes with the container: wait for it to exist, then power it off.
            await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_runtime.RunningOf(record.Id) is { } running)
        {
            if (_backend is not null)
            {
                await _backend.PowerOffAsync(record.Id, force: true, cancellationToken).ConfigureAwait(false);
            }

            await Task.WhenAny(running.RunEnded.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false);
        }

        await ForgetAsync(record, cancellationToken).ConfigureAwait(false);
        if (removeVolumes)
        {
            // rm -v: the container's anonymous volumes go with it; named ones stay, as on dockerd.
            foreach (var mount in record.Config.Mounts.Where(m => _volumes.Find(m.Name) is { Anonymous: true }))
            {
                try
                {
                    _volumes.Remove(mount.Name, force: true);
                }
                catch (PortLayerException ex) when (ex.Kind == ErrorKind.Conflict)
                {
                    // Another container mounts it too: it stays.
                }
            }
        }
    }

    public void Dispose()
    {
        _watching.Cancel();
        foreach (var running in _runtime.All.Select(s => s.Running).OfType<RunningContainer>())
        {
            // The endpoint is stopping, not the containers: their ContainerVMs run on and the next
            // endpoint re-attaches. Abandoned, the closed channel is not read as a death (137).
            running.Abandoned = true;
            running.Dispose();
        }

        _runtime.Dispose();
    }

    private async Task ForgetAsync(ContainerRecord record, CancellationToken cancellationToken)
    {
        if (_backend is not null && (await _backend.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
        {
            try
            {
                await _backend.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // Gone between the listing and the destroy: what removal wanted.
            }
        }

        _fabric?.Leave(record.Id);
        var folder = Path.Combine(ContainersDirectory, record.Id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        _containers.Forget(record.Id);
        _runtime.Drop(record.Id, record.Status.ExitCode);
    }

    private async Task PumpAsync(RunningContainer running, ContainerLog log)
    {
        int? exitCode = null;
        int? stepExit = null;
        var reader = new FrameReader(running.Channel);
        try
        {
            while (exitCode is null && await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { } frame)
            {
                if (running.Answer(frame))
                {
                    continue;
                }

                switch (frame.Type)
                {
                    case FrameType.Stdout when frame.Session == 0:
                        log.Append(OutputStream.Stdout, frame.Payload.Span, _time.GetUtcNow());
                        break;
                    case FrameType.Stderr when frame.Session == 0:
                        log.Append(OutputStream.Stderr, frame.Payload.Span, _time.GetUtcNow());
                        break;
                    case FrameType.Error when frame.Session == 0:
                        log.Append(OutputStream.Stderr, Payloads.Text($"vic: {Payloads.Text(frame.Payload)}\n"), _time.GetUtcNow());
                        break;
                    case FrameType.Started when frame.Session == 0:
                        var main = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage);
                        if (main.Timings is { } t)
                        {
                            Log.GuestStart(_logger, running.ContainerId, t.NetworkMs, t.DisksMs, t.RootMs, t.ProcessMs, t.RootSteps ?? "");
                        }

                        running.MainStarted.TrySetResult(main.Pid);
                        break;
                    case FrameType.Exit when frame.Session == 0:
                        running.MainStarted.TrySetResult(0);
                        if (_runtime.Find(running.ContainerId)?.BuildStep is { } step)
                        {
                            // A build step's VM stays on for its layer to be read: the exit is the VM's end.
                            step.TrySetResult(Payloads.Int32(frame.Payload));
                            stepExit = Payloads.Int32(frame.Payload);
                            break;
                        }

                        exitCode = Payloads.Int32(frame.Payload);
                        break;
                    case FrameType.State:
                        var report = Payloads.Json(frame.Payload, InteractionJson.Default.StateReport);
                        running.ContinueSessionsAfter(report.Sessions.Count == 0 ? 0 : report.Sessions.Max(s => s.Session));
                        exitCode ??= report.Sessions.FirstOrDefault(s => s.Session == Frame.MainSession)?.ExitCode;
                        if (exitCode is not null)
                        {
                            // Still on with its process ended: a build step's VM the endpoint lost while it ran.
                            await PowerOffQuietlyAsync(running).ConfigureAwait(false);
                        }

                        running.Reattached.TrySetResult(true);
                        break;
                    case FrameType.Hello:
                        // Only a tether that never got its spec says hello to an Attach.
                        running.Reattached.TrySetResult(false);
                        break;
                    case FrameType.Stdout or FrameType.Stderr when running.Execs.TryGetValue(frame.Session, out var exec):
                        exec.Append(new OutputChunk(frame.Type == FrameType.Stdout ? OutputStream.Stdout : OutputStream.Stderr, frame.Payload.ToArray(), _time.GetUtcNow()));
                        break;
                    case FrameType.Started when running.Execs.TryGetValue(frame.Session, out var started):
                        started.Pid = Payloads.Json(frame.Payload, InteractionJson.Default.StartedMessage).Pid;
                        break;
                    case FrameType.Error when running.Execs.TryGetValue(frame.Session, out var failed):
                        failed.Append(new OutputChunk(OutputStream.Stderr, Payloads.Text($"{Payloads.Text(frame.Payload)}\n"), _time.GetUtcNow()));
                        failed.Finish(126);
                        running.Execs.TryRemove(frame.Session, out _);
                        break;
                    case FrameType.Exit when running.Execs.TryRemove(frame.Session, out var ended):
                        ended.Finish(Payloads.Int32(frame.Payload));
                        _containers.Transition(running.ContainerId, (_, s) => s, "exec_die", new Dictionary<string, string> { ["execID"] = ended.Id, ["exitCode"] = ended.ExitCode!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ProtocolException or ObjectDisposedException)
        {
            // The ContainerVM went away without a word: treated below as a process killed with it.
        }

        // A start waiting for the process to run learns it will not, and settles: the exit waits for that.
        running.ChannelEnded.TrySetResult();
        running.MainStarted.TrySetResult(0);
        await running.StartSettled.Task.ConfigureAwait(false);
        exitCode ??= stepExit;
        if (_runtime.Find(running.ContainerId)?.BuildStep is { } unfinished)
        {
            unfinished.TrySetResult(exitCode ?? 137);
        }

        try
        {
            if (!running.Abandoned)
            {
                await FinishAsync(running, log, exitCode).ConfigureAwait(false);
            }
            else
            {
                // Nobody else will: whoever still waits on this channel learns it is gone.
                running.Dispose();
            }
        }
        finally
        {
            running.RunEnded.TrySetResult();
        }
    }

    private static async Task PowerOffQuietlyAsync(RunningContainer running)
    {
        try
        {
            await running.Writer.WriteAsync(FrameType.PowerOff, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The ContainerVM went by itself: nothing is left to power off.
        }
    }

    private async Task FinishAsync(RunningContainer running, ContainerLog log, int? exitCode)
    {
        var state = _runtime.Find(running.ContainerId);
        state?.ClearRunning(running);
        _fabric?.Leave(running.ContainerId);
        foreach (var exec in running.Execs.Values)
        {
            // The container's end is every exec's end: dockerd reports them killed.
            exec.Finish(137);
        }

        state?.CloseStdin();
        running.Dispose();
        log.Close();
        var code = exitCode ?? 137;
        var error = exitCode is null ? "the ContainerVM stopped unexpectedly" : "";
        var record = _containers.Resolve(running.ContainerId);
        if (record.Status is RunningStatus or PausedStatus or RestartingStatus)
        {
            record = _containers.Transition(
                record.Id,
                (who, s) => s.Exit(who, code, _time.GetUtcNow(), error),
                "die",
                new Dictionary<string, string> { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        else if (record.Status is RemovingStatus)
        {
            // rm -f ends the process: dockerd reports its death before the destroy.
            _containers.Transition(record.Id, (_, s) => s, "die", new Dictionary<string, string> { ["exitCode"] = code.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        state?.ReportExit(code);
        Log.Exited(_logger, record.Id, code);
        if (record.Config.AutoRemove && record.Status is not RemovingStatus)
        {
            var removing = _containers.Transition(record.Id, (who, s) => s.BeginRemoval(who, force: true), null);
            await ForgetAsync(removing, CancellationToken.None).ConfigureAwait(false);
        }
        else if (record.Status is ExitedStatus && PolicyRestarts(record, code))
        {
            ScheduleRestart(record);
        }
    }

    private static async Task RelaySessionStdinAsync(RunningContainer running, ExecSession exec)
    {
        try
        {
            await foreach (var data in exec.StdinQueue.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (data is null)
                {
                    await running.Writer.WriteAsync(FrameType.StdinClose, exec.Session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                    return;
                }

                await running.Writer.WriteChunkedAsync(FrameType.Stdin, exec.Session, data, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Feeds queued stdin to the tether; a null entry is the end of stdin.</summary>
    private static async Task RelayStdinAsync(RunningContainer running, System.Threading.Channels.Channel<byte[]?> stdin)
    {
        try
        {
            await foreach (var data in stdin.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (data is null)
                {
                    await running.Writer.WriteAsync(FrameType.StdinClose, 0, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                    return;
                }

                await running.Writer.WriteChunkedAsync(FrameType.Stdin, 0, data, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The ContainerVM is gone; its stdin with it.
        }
    }

    private ContainerLog LogOf(string id) => _runtime.Of(id).Log;

    private ContainerLog OpenLog(string id) =>
        new(Path.Combine(Directory.CreateDirectory(Path.Combine(ContainersDirectory, id)).FullName, "container.log"), _containers.List().FirstOrDefault(c => c.Id == id)?.Config.Log ?? LogSettings.Default);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "container {Id} started")]
        public static partial void Started(ILogger logger, string id);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "container {Id} exited with {Code}")]
        public static partial void Exited(ILogger logger, string id, int code);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "container {Id} reattached after an endpoint restart")]
        public static partial void Reattached(ILogger logger, string id);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "container {Id}: the tether did not answer on connection {Attempt}; reconnecting")]
        public static partial void TetherSilent(ILogger logger, string id, int attempt);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "container {Id} could not be recovered after the endpoint restart: {Reason}")]
        public static partial void RecoveryFailed(ILogger logger, string id, string reason);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "container {Id} ({Name}) rebuilt from its ContainerVM's record")]
        public static partial void Adopted(ILogger logger, string id, string name);

        [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "container {Id}: its tether answered {Ms:0} ms after the ContainerVM was up")]
        public static partial void TetherAnswered(ILogger logger, string id, double ms);

        [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "container {Id}: in the guest, from the spec: network {NetworkMs:0} ms, disks seen {DisksMs:0} ms, root made {RootMs:0} ms, program running {ProcessMs:0} ms (the root: {RootSteps})")]
        public static partial void GuestStart(ILogger logger, string id, double networkMs, double disksMs, double rootMs, double processMs, string rootSteps);

        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "container {Id}: its ContainerVM was {How} behind the VCH's back; the container ends as a VM that stopped")]
        public static partial void VmStoppedBehindOurBack(ILogger logger, string id, string how);

        [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "the backend's inventory watch failed: {Reason}; out-of-band power-offs go unseen until a channel closes")]
        public static partial void WatchFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "container {Id} could not be restarted by its policy: {Reason}")]
        public static partial void RestartFailed(ILogger logger, string id, string reason);
    }
}
