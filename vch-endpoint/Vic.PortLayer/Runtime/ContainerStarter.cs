using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// docker start: the ContainerVM made (an instant clone where the backend can) under the
/// container's VM gate, its tether given the spec, and the start committed once the process runs,
/// as dockerd's start returns: <c>docker logs</c> and published ports right after are the process's.
/// </summary>
internal sealed partial class ContainerStarter(
    IComputeBackend? backend,
    ContainerCatalog containers,
    ContainerRuntimeTable runtime,
    ContainerVmRecipe recipe,
    ContainerNetworking networking,
    TetherConnector connector,
    Healthchecks healthchecks,
    ContainerTeardown teardown,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>How long a start waits for the tether to run the main process (its root made first).</summary>
    private static readonly TimeSpan MainStartTimeout = TimeSpan.FromSeconds(60);

    /// <param name="byPolicy">A restart by policy: it keeps a stop that came while it started (docker start clears it).</param>
    public async Task StartAsync(string idOrName, bool byPolicy, CancellationToken cancellationToken)
    {
        var compute = backend ?? throw PortLayerException.NotImplemented("this VCH has no compute backend (start it with --backend qemu)");
        var record = containers.Resolve(idOrName);
        record.Status.Start(record.Ref, time.GetUtcNow());
        var disks = recipe.DisksOf(record);
        var resources = ContainerService.ResourcesFor(record.Config);
        foreach (var mount in record.Config.Mounts.Where(m => !recipe.IsNfs(m)))
        {
            // A VMDK volume is one disk: one ContainerVM at a time may attach it.
            if (containers.List().FirstOrDefault(c => c.Id != record.Id && c.Status.IsRunning && c.Config.Mounts.Any(m => m.Name == mount.Name)) is { } holder)
            {
                throw PortLayerException.Conflict($"volume {mount.Name} is in use by running container {holder.Name}: a VMDK volume attaches to one ContainerVM at a time");
            }
        }

        var mine = await MakeRunAsync(compute, record, disks, resources, cancellationToken).ConfigureAwait(false);
        ContainerRecord started;
        try
        {
            started = containers.Transition(
                record.Id,
                (who, s) => s.Start(who, time.GetUtcNow()),
                "start",
                alongside: r => r with { ManuallyStopped = byPolicy && r.ManuallyStopped, Health = r.Config.Healthcheck is { Disabled: false } ? new ContainerHealth(ContainerHealth.Starting, 0, []) : null });
        }
        finally
        {
            // Committed (or refused: an rm -f came first); either way its exit may now be handled.
            // This start's own channel, whatever is registered now: its exit waits for nothing else.
            mine.StartSettled.TrySetResult();
        }

        Log.Started(logger, record.Id);
        networking.RefreshPeers();
        if (ReferenceEquals(runtime.RunningOf(record.Id), mine))
        {
            healthchecks.Start(started, mine);
        }
    }

    /// <summary>Makes this start's run under the VM gate; a start that fails leaves no run behind (and a <c>--rm</c> container removed).</summary>
    private async Task<RunningContainer> MakeRunAsync(IComputeBackend compute, ContainerRecord record, List<DiskAttachment> disks, VmResources resources, CancellationToken cancellationToken)
    {
        var gate = runtime.Of(record.Id).VmGate;
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var releasedEarly = false;
        var madeVm = false;
        ContainerLog? log = null;
        try
        {
            // Checked again under the gate: a start, rm or restart by policy may have come first.
            record = containers.Resolve(record.Id);
            record.Status.Start(record.Ref, time.GetUtcNow());
            if (runtime.RunningOf(record.Id) is not null)
            {
                throw PortLayerException.NotModified($"container {record.Id} is already started");
            }

            if ((await compute.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
            {
                // A VM of an earlier run: its scratch disk stays, the machine is made anew.
                await compute.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }

            log = runtime.Of(record.Id).Log;
            log.Open();
            madeVm = true;
            return await StartVmAsync(compute, record, disks, resources, log, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Attached clients must not wait for output that will never come.
            log?.Close();
            if (madeVm)
            {
                networking.Unpublish(record.Id);
            }

            if (madeVm && runtime.Find(record.Id)?.TakeRunning() is { } half)
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
                try
                {
                    await teardown.AutoRemoveAsync(record.Id).ConfigureAwait(false);
                }
                catch (PortLayerException ex) when (ex.Kind is ErrorKind.Conflict or ErrorKind.NotFound)
                {
                    // An rm came first and removes it: the start's own failure is what its caller learns.
                }
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
    }

    /// <returns>The channel to the tether of the ContainerVM this start made.</returns>
    private async Task<RunningContainer> StartVmAsync(IComputeBackend compute, ContainerRecord record, List<DiskAttachment> disks, VmResources resources, ContainerLog log, CancellationToken cancellationToken)
    {
        var ports = ContainerNetworking.ResolvePorts(record);
        record = containers.Change(record.Id, r => r with { Ports = ports }, null);
        var vm = await compute.CloneAsync(recipe.RunVmOf(record, disks, resources), cancellationToken).ConfigureAwait(false);
        var state = runtime.Of(record.Id);
        state.PublicNic = vm.Public;
        var answering = System.Diagnostics.Stopwatch.StartNew();
        var (running, answer) = await connector.ConnectAsync(compute, record.Id, log, cancellationToken, starting: true).ConfigureAwait(false);
        if (answer != TetherAnswer.Hello || running is null)
        {
            if (running is not null)
            {
                await connector.LetGoAsync(running).ConfigureAwait(false);
            }

            await compute.PowerOffAsync(record.Id, force: true, CancellationToken.None).ConfigureAwait(false);
            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {record.Id} did not answer its tether's channel ({answer})");
        }

        Log.TetherAnswered(logger, record.Id, answering.Elapsed.TotalMilliseconds);
        var spec = recipe.RunSpecOf(record, disks, vm.Public, keepAfterExit: state.BuildStep is not null);
        if (running.TetherVersion < TetherProtocol.RelaysPorts)
        {
            // A tether from before peerHosts ignores them: it gets them as extra hosts, and no updates.
            spec = spec with { ExtraHosts = [.. spec.ExtraHosts, .. spec.PeerHosts], PeerHosts = [] };
        }

        state.PeerHosts = spec.PeerHosts;
        networking.JoinBridge(record);
        try
        {
            networking.Publish(record, running);
        }
        catch (PortLayerException)
        {
            // A port taken since it was checked: no process runs without the ports it was given.
            try
            {
                await compute.PowerOffAsync(record.Id, force: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (PortLayerException)
            {
                // The port's error is the answer, whatever the hypervisor says of the power-off.
            }

            throw;
        }

        try
        {
            await running.Writer.WriteAsync(FrameType.Spec, 0, Payloads.Json(spec, InteractionJson.Default.ContainerSpec), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The channel broke as the VM came up: the VM is not trusted to be gone with it.
            try
            {
                await compute.ForceOffAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
            }
            catch (PortLayerException)
            {
                // The start's failure is the answer, whatever the hypervisor says of the power-off.
            }

            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {record.Id} went away before its process started");
        }

        if (record.Config.OpenStdin)
        {
            _ = Task.Run(() => RelayStdinAsync(running, state.Stdin), CancellationToken.None);
        }

        // dockerd's start returns once the process runs: logs and published ports right after are
        // the process's. (A process that never starts ends the run with its exit code instead.)
        // A root that takes longer (an NFS server that does not answer) is waited for no further.
        // A removal that begins meanwhile ends the wait: the start is then refused, and the removal
        // powers the VM off.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.RemovalBegun);
        await Task.WhenAny(running.MainStarted.Task, running.Pump!, Task.Delay(MainStartTimeout, limit.Token)).ConfigureAwait(false);
        await limit.CancelAsync().ConfigureAwait(false);
        return running;
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

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "container {Id} started")]
        public static partial void Started(ILogger logger, string id);

        [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "container {Id}: its tether answered {Ms:0} ms after the ContainerVM was up")]
        public static partial void TetherAnswered(ILogger logger, string id, double ms);
    }
}
