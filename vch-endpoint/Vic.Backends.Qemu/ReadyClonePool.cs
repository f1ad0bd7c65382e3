using System.Globalization;
using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// A ContainerVM restored from a template ahead of need, its tether already asked once (Attach,
/// Hello) so the code that answers is translated, and the channel of that conversation kept open:
/// the guest's tether waits on it in a blocking read, idle. Taking one skips QEMU's start, the
/// restore and the tether's first answer (~0.3 s of a ~0.8 s <c>docker run</c> under TCG).
/// </summary>
internal sealed record ReadyClone(VmFolder Folder, int Pid, Stream Channel, VmResources Resources, string Accelerator, string TemplateState);

/// <summary>
/// A bounded set of <see cref="ReadyClone"/>s for the resources clones were last asked for. It
/// refills only once the starts of the last seconds are done (<see cref="RecentStarts"/>) and the
/// host's CPUs are mostly idle, and stops the clone it is making while a start is busy, so making
/// ready clones does not take CPU from containers being started or running. Ready clones are
/// not containers: they are not in the VCH's inventory and not counted in its pool, and they live
/// in a folder of their own that an endpoint clears when it starts and when it stops.
/// </summary>
internal sealed partial class ReadyClonePool : IDisposable
{
    /// <summary>
    /// What a ready clone's rehearsal addresses its NICs with: a start readdresses both (and sets the
    /// bridge NIC's MAC: virtio-net changes it while up), so none of it is seen by a container.
    /// </summary>
    private static readonly NetworkSpec RehearsalNetwork = new("02:00:00:56:49:01", ["169.254.254.2/30"], QemuCommand.PublicNic.Address, QemuCommand.PublicNic.Gateway, null);

    /// <summary>The share of the host's CPU time that must have been idle over <see cref="IdleLook"/> before a ready clone is made.</summary>
    private const double IdleShareToRefill = 0.5;

    private static readonly TimeSpan IdleLook = TimeSpan.FromMilliseconds(250);

    private readonly QemuBackendOptions _options;
    private readonly TemplateStore _templates;
    private readonly NicBackends _nics;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly List<ReadyClone> _ready = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Task _filling;
    private (VmResources Resources, string Accelerator)? _wanted;

    public ReadyClonePool(QemuBackendOptions options, TemplateStore templates, NicBackends nics, ILogger logger)
    {
        _options = options;
        _templates = templates;
        _nics = nics;
        _logger = logger;
        ClearLeftovers();
        _filling = options.ReadyClones > 0 ? Task.Run(FillAsync) : Task.CompletedTask;
    }

    private string Directory => Path.Combine(_options.StateDirectory, "ready");

    /// <summary>Ready clones waiting now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _ready.Count;
            }
        }
    }

    /// <summary>
    /// A ready clone of this template with these resources, or null. Every call says what clones
    /// are wanted: the pool keeps ready clones of the latest resources and drops others.
    /// </summary>
    public ReadyClone? TryTake(VmResources resources, string accelerator, Template template)
    {
        if (_options.ReadyClones == 0)
        {
            return null;
        }

        ReadyClone? taken = null;
        List<ReadyClone> stale;
        lock (_lock)
        {
            _wanted = (resources, accelerator);
            // Ready clones of other resources or an older template, and any whose QEMU died, go.
            stale = [.. _ready.Where(r => r.Resources != resources || r.Accelerator != accelerator || r.TemplateState != template.State || !QemuProcess.IsRunning(r.Pid, r.Folder))];
            _ready.RemoveAll(stale.Contains);
            taken = _ready.FirstOrDefault();
            if (taken is not null)
            {
                _ready.Remove(taken);
            }
        }

        foreach (var gone in stale)
        {
            Discard(gone);
        }

        _wake.Release();
        return taken;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _wake.Release();
        try
        {
            _filling.Wait(TimeSpan.FromSeconds(15));
        }
        catch (AggregateException)
        {
        }

        lock (_lock)
        {
            _ready.ForEach(Discard);
            _ready.Clear();
        }

        // A QEMU whose launch the stop cut short is in no list, only in its folder.
        ClearLeftovers();
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task FillAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_stop.Token).ConfigureAwait(false);
                while (!_stop.IsCancellationRequested && NextToMake() is { } wanted)
                {
                    await WaitForStartsAsync(_stop.Token).ConfigureAwait(false);

                    // Looked at again after the idle look: the ask that woke the pool comes before
                    // its start is known, and a start may have come during the look.
                    if (await HostIdleShareAsync(IdleLook, _stop.Token).ConfigureAwait(false) < IdleShareToRefill || _starts.AnyBusy())
                    {
                        continue;
                    }

                    var made = await MakeAsync(wanted.Resources, wanted.Accelerator, _stop.Token).ConfigureAwait(false);
                    if (made is null)
                    {
                        continue;
                    }

                    lock (_lock)
                    {
                        if (_wanted == wanted)
                        {
                            _ready.Add(made);
                            made = null;
                        }
                    }

                    if (made is not null)
                    {
                        Discard(made);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Clones are still made the usual way; the next ask tries again, not at once.
                Log.NotMade(_logger, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private (VmResources Resources, string Accelerator)? NextToMake()
    {
        lock (_lock)
        {
            return _wanted is { } wanted && _ready.Count < _options.ReadyClones ? wanted : null;
        }
    }

    /// <summary>Makes a ready clone; null when it gave way to starts for too long (<see cref="Holder"/>).</summary>
    private async Task<ReadyClone?> MakeAsync(VmResources resources, string accelerator, CancellationToken stop)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var template = await _templates.GetAsync(resources, accelerator, stop).ConfigureAwait(false);
        var folder = new VmFolder(Path.Combine(Directory, Guid.NewGuid().ToString("N")[..12]));
        System.IO.Directory.CreateDirectory(folder.Path);
        var pid = await QemuProcess.StartAsync(_options.QemuBinary, QemuCommand.Build(_options, folder, resources, accelerator, [], GuestRam.Fork(template.Ram), incoming: true, nics: _nics), folder, stop, _options.Isolation?.GroupId).ConfigureAwait(false);
        using var making = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var cancellationToken = making.Token;
        var holder = new Holder(this, pid, folder, making);
        holder.Start();
        Stream? channel = null;
        try
        {
            await using (var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false))
            {
                await DeviceState.RestoreAsync(qmp, template.State, withRam: false, cancellationToken).ConfigureAwait(false);
                await DeviceState.WaitRunningAsync(qmp, cancellationToken).ConfigureAwait(false);
            }

            var restored = watch.ElapsedMilliseconds;
            channel = await TetherProbe.ConnectAsync(folder.Channel, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            _ = await TetherProbe.AttachAsync(channel, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false)
                ?? throw new QemuException($"a ready clone's tether did not answer; see {folder.Console}");

            // The path of a start once more, in this QEMU: the code it runs is translated for good,
            // and the NICs come up now rather than in the start.
            var answered = watch.ElapsedMilliseconds;
            await RehearseAsync(folder, channel, cancellationToken).ConfigureAwait(false);
            var rehearsed = watch.ElapsedMilliseconds;
            holder.Rehearsed();

            // What the guest still does after it (the scratch disk's removal) is done before a start
            // comes; a wait the QEMU spent stopped, all or in part, proves nothing and is waited again.
            int changes;
            do
            {
                while (holder.IsHeld)
                {
                    await Task.Delay(YieldLook, cancellationToken).ConfigureAwait(false);
                }

                changes = holder.Changes;
                await GuestQuiescence.WaitAsync(pid, TimeSpan.FromMilliseconds(300), 0.05, TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
            }
            while (holder.Changes != changes || holder.IsHeld);

            await holder.DisposeAsync().ConfigureAwait(false);
            Log.Made(_logger, folder.Path, watch.ElapsedMilliseconds, restored, answered - restored, rehearsed - answered, watch.ElapsedMilliseconds - rehearsed, holder.Holds);
            return new ReadyClone(folder, pid, channel, resources, accelerator, template.State);
        }
        catch (Exception) when (holder.GaveUp && !stop.IsCancellationRequested)
        {
            await DropAsync().ConfigureAwait(false);
            Log.GaveWay(_logger, watch.ElapsedMilliseconds);
            return null;
        }
        catch
        {
            await DropAsync().ConfigureAwait(false);
            throw;
        }

        async Task DropAsync()
        {
            try
            {
                await holder.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The clone is killed below, stopped or not.
                Log.NotMade(_logger, ex.Message);
            }
            finally
            {
                channel?.Dispose();
                QemuProcess.Kill(pid, folder);
                TryDelete(folder.Path);
            }
        }
    }

    /// <summary>A rehearsal with NICs and, when the backend can make one, a scratch disk of its own, unplugged after.</summary>
    private async Task RehearseAsync(VmFolder folder, Stream channel, CancellationToken cancellationToken)
    {
        var disk = _options.MakeScratchDisk is { } make ? new DiskAttachment("rehearsal", Path.Combine(folder.Path, "rehearsal.vmdk"), DiskRole.Scratch, false) : null;
        await using var qmp = await QmpClient.ConnectAsync(folder.Qmp, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        if (disk is not null)
        {
            _options.MakeScratchDisk!(disk.Path);
            await DiskHotPlug.AddAsync(qmp, disk, Frame.RehearsalDiskTarget, cancellationToken).ConfigureAwait(false);
        }

        IReadOnlyList<DiskSpec> disks = disk is null ? [] : [new DiskSpec(disk.Id, "scratch", 0)];
        if (!await TetherProbe.RehearseAsync(channel, TimeSpan.FromSeconds(30), cancellationToken, RehearsalNetwork, disks).ConfigureAwait(false))
        {
            throw new QemuException($"a ready clone did not rehearse a start; see {folder.Console}");
        }

        if (disk is not null)
        {
            await DiskHotPlug.RemoveAsync(qmp, disk.Id, cancellationToken).ConfigureAwait(false);
            File.Delete(disk.Path);
        }
    }

    private static void Discard(ReadyClone clone)
    {
        clone.Channel.Dispose();
        QemuProcess.Kill(clone.Pid, clone.Folder);
        TryDelete(clone.Folder.Path);
    }

    /// <summary>Ready clones of an endpoint that was killed: daemonized, they outlived it.</summary>
    private void ClearLeftovers()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return;
        }

        foreach (var path in System.IO.Directory.EnumerateDirectories(Directory))
        {
            var folder = new VmFolder(path);
            if (File.Exists(folder.PidFile) && int.TryParse(File.ReadAllText(folder.PidFile).Trim(), CultureInfo.InvariantCulture, out var pid))
            {
                QemuProcess.Kill(pid, folder);
            }

            TryDelete(path);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            System.IO.Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The share of all CPUs' time the host spent idle over <paramref name="window"/> (from /proc/stat).</summary>
    private static async Task<double> HostIdleShareAsync(TimeSpan window, CancellationToken cancellationToken)
    {
        var before = CpuTimes();
        await Task.Delay(window, cancellationToken).ConfigureAwait(false);
        var after = CpuTimes();
        var total = after.Total - before.Total;
        return total <= 0 ? 1 : (double)(after.Idle - before.Idle) / total;
    }

    private static (long Total, long Idle) CpuTimes()
    {
        // "cpu  user nice system idle iowait irq softirq steal ...": idle and iowait are idle time.
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        return (fields.Take(8).Sum(), fields[3] + fields[4]);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "ready clone {Folder} made in {Ms} ms: restored in {RestoredMs} ms, the tether's answer {AnswerMs} ms, the rehearsal {RehearsalMs} ms, quiet after {QuietMs} ms; held {Holds} times for starts")]
        public static partial void Made(ILogger logger, string folder, long ms, long restoredMs, long answerMs, long rehearsalMs, long quietMs, int holds);

        [LoggerMessage(EventId = 4008, Level = LogLevel.Information, Message = "a ready clone being made gave way to starts after {Ms} ms: dropped, made again when they are done")]
        public static partial void GaveWay(ILogger logger, long ms);

        [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "could not make a ready clone: {Reason}")]
        public static partial void NotMade(ILogger logger, string reason);
    }
}
