using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// After the endpoint restarted: the containers it knew, brought back to what their ContainerVMs
/// say, and those a lost store no longer knows, rebuilt from the record their VMs carry.
/// </summary>
internal sealed partial class ContainerRecovery(
    IComputeBackend? backend,
    ContainerCatalog containers,
    ContainerRuntimeTable runtime,
    ContainerNetworking networking,
    TetherConnector connector,
    Healthchecks healthchecks,
    RestartScheduler restarts,
    RunEnding ending,
    ContainerTeardown teardown,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>
    /// After the endpoint restarted: reattaches to every container the store says runs, collects
    /// the output and exits that waited in their ContainerVMs meanwhile, records the end of those
    /// whose VM is gone, and finishes removals a crash interrupted.
    /// </summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var records = containers.List();
        foreach (var removing in records.Where(r => r.Status is RemovingStatus))
        {
            try
            {
                await teardown.ForgetAsync(removing, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One container's trouble must not keep the VCH from starting: dockerd marks it dead.
                Log.RecoveryFailed(logger, removing.Id, ex.Message);
                containers.Transition(removing.Id, (_, s) => s.MarkDead(ex.Message), null);
            }
        }

        if (backend is null)
        {
            foreach (var record in records.Where(r => r.Status.IsRunning))
            {
                ending.MarkLost(record.Id);
            }

            return;
        }

        var vms = (await backend.ListAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(vm => vm.VmId);
        AdoptFromInventory(vms.Values);
        records = containers.List();
        await Task.WhenAll(records
            .Where(r => r.Status.IsRunning && r.Status is not RestartingStatus)
            .Select(r => RecoverAsync(backend, r, vms.GetValueOrDefault(r.Id), cancellationToken))).ConfigureAwait(false);
        foreach (var record in records.Where(r => r.Status is RestartingStatus))
        {
            // The endpoint died inside a restart's back-off: finish it.
            containers.Transition(record.Id, (who, s) => s.Exit(who, s.ExitCode, s.FinishedAt ?? time.GetUtcNow(), s.Error), null);
        }

        foreach (var record in containers.List())
        {
            restarts.AfterRecovery(record);
        }
    }

    private void AdoptFromInventory(IEnumerable<ContainerVm> vms)
    {
        foreach (var vm in vms)
        {
            if (!vm.ExtraConfig.TryGetValue(ContainerVmRecipe.ContainerRecordKey, out var json) || containers.List().Any(c => c.Id == vm.VmId))
            {
                continue;
            }

            try
            {
                // The record was written as the VM started: the container has run since; recovery
                // below finds it running in its VM, or lost with its VM.
                var record = System.Text.Json.JsonSerializer.Deserialize<ContainerRecord>(json, Store.StoreJson.Options);
                if (record is not null && record.Id == vm.VmId && containers.Adopt(record with { Status = record.Status.Start(record.Ref, time.GetUtcNow()) }))
                {
                    Log.Adopted(logger, record.Id, record.Name);
                }
            }
            catch (System.Text.Json.JsonException ex)
            {
                Log.RecoveryFailed(logger, vm.VmId, $"its VM's record cannot be read: {ex.Message}");
            }
        }
    }

    private async Task RecoverAsync(IComputeBackend compute, ContainerRecord record, ContainerVm? vm, CancellationToken cancellationToken)
    {
        try
        {
            await ReattachAsync(compute, record, vm, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // One container's trouble must not keep the VCH from starting.
            Log.RecoveryFailed(logger, record.Id, ex.Message);
            ending.MarkLost(record.Id);
        }
    }

    private async Task ReattachAsync(IComputeBackend compute, ContainerRecord record, ContainerVm? vm, CancellationToken cancellationToken)
    {
        var log = runtime.Of(record.Id).Log;
        if (vm is { Power: PowerState.On })
        {
            var (running, answer) = await connector.ConnectAsync(compute, record.Id, log, cancellationToken).ConfigureAwait(false);
            switch (answer)
            {
                case TetherAnswer.State:
                    Log.Reattached(logger, record.Id);
                    runtime.Of(record.Id).PublicNic = vm.Public;
                    if (ReferenceEquals(runtime.RunningOf(record.Id), running))
                    {
                        // The fabric forgot its ports with the endpoint; the VM's NIC never noticed.
                        networking.JoinBridge(record);
                        PublishQuietly(record, running!);
                    }

                    healthchecks.Start(record, running!);
                    return;
                case TetherAnswer.ChannelEnded:
                    // The pump has recorded the exit it saw, or the VM's loss.
                    return;
                case TetherAnswer.Hello:
                    // The endpoint died between making the VM and handing it the spec: the process never ran.
                    await connector.LetGoAsync(running!).ConfigureAwait(false);
                    await compute.PowerOffAsync(record.Id, force: true, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }

        ending.MarkLost(record.Id);
    }

    /// <summary>A port another process took while the endpoint was away stays unpublished; the container runs on, and the log says so.</summary>
    private void PublishQuietly(ContainerRecord record, RunningContainer run)
    {
        try
        {
            networking.Publish(record, run);
        }
        catch (Errors.PortLayerException ex)
        {
            Log.RecoveryFailed(logger, record.Id, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "container {Id} reattached after an endpoint restart")]
        public static partial void Reattached(ILogger logger, string id);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "container {Id} could not be recovered after the endpoint restart: {Reason}")]
        public static partial void RecoveryFailed(ILogger logger, string id, string reason);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "container {Id} ({Name}) rebuilt from its ContainerVM's record")]
        public static partial void Adopted(ILogger logger, string id, string name);
    }
}
