using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;

namespace Vic.PortLayer.Runtime;

public sealed partial class ContainerService
{
    /// <summary>
    /// After the endpoint restarted: reattaches to every container the store says runs, collects
    /// the output and exits that waited in their ContainerVMs meanwhile, records the end of those
    /// whose VM is gone, and finishes removals a crash interrupted.
    /// </summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var records = _containers.List();
        foreach (var removing in records.Where(r => r.Status is RemovingStatus))
        {
            try
            {
                await ForgetAsync(removing, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One container's trouble must not keep the VCH from starting: dockerd marks it dead.
                Log.RecoveryFailed(_logger, removing.Id, ex.Message);
                _containers.Transition(removing.Id, (_, s) => s.MarkDead(ex.Message), null);
            }
        }

        if (_backend is null)
        {
            foreach (var record in records.Where(r => r.Status.IsRunning))
            {
                MarkLost(record.Id);
            }

            return;
        }

        var vms = (await _backend.ListAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(vm => vm.VmId);
        AdoptFromInventory(vms.Values);
        records = _containers.List();
        await Task.WhenAll(records
            .Where(r => r.Status.IsRunning && r.Status is not RestartingStatus)
            .Select(r => RecoverAsync(_backend, r, vms.GetValueOrDefault(r.Id), cancellationToken))).ConfigureAwait(false);
        foreach (var record in records.Where(r => r.Status is RestartingStatus))
        {
            // The endpoint died inside a restart's back-off: finish it.
            _containers.Transition(record.Id, (who, s) => s.Exit(who, s.ExitCode, s.FinishedAt ?? _time.GetUtcNow(), s.Error), null);
        }

        foreach (var record in _containers.List())
        {
            _restarts.AfterRecovery(record);
        }
    }

    /// <summary>
    /// The record each ContainerVM carries in its extraConfig, written at every start. A VCH whose
    /// store was lost (a new appliance over the same vSphere pool) rebuilds its containers from them.
    /// </summary>
    private static Dictionary<string, string> VmExtraConfigOf(ContainerRecord record) => new()
    {
        [ContainerIdKey] = record.Id,
        [ContainerRecordKey] = System.Text.Json.JsonSerializer.Serialize(record, Store.StoreJson.Options),
    };

    private const string ContainerIdKey = "vic.container.id";
    private const string ContainerRecordKey = "vic.container.record";

    private void AdoptFromInventory(IEnumerable<ContainerVm> vms)
    {
        foreach (var vm in vms)
        {
            if (!vm.ExtraConfig.TryGetValue(ContainerRecordKey, out var json) || _containers.List().Any(c => c.Id == vm.VmId))
            {
                continue;
            }

            try
            {
                // The record was written as the VM started: the container has run since; recovery
                // below finds it running in its VM, or lost with its VM.
                var record = System.Text.Json.JsonSerializer.Deserialize<ContainerRecord>(json, Store.StoreJson.Options);
                if (record is not null && record.Id == vm.VmId && _containers.Adopt(record with { Status = record.Status.Start(record.Ref, _time.GetUtcNow()) }))
                {
                    Log.Adopted(_logger, record.Id, record.Name);
                }
            }
            catch (System.Text.Json.JsonException ex)
            {
                Log.RecoveryFailed(_logger, vm.VmId, $"its VM's record cannot be read: {ex.Message}");
            }
        }
    }

    private async Task RecoverAsync(IComputeBackend backend, ContainerRecord record, ContainerVm? vm, CancellationToken cancellationToken)
    {
        try
        {
            await ReattachAsync(backend, record, vm, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // One container's trouble must not keep the VCH from starting.
            Log.RecoveryFailed(_logger, record.Id, ex.Message);
            MarkLost(record.Id);
        }
    }

    private async Task ReattachAsync(IComputeBackend backend, ContainerRecord record, ContainerVm? vm, CancellationToken cancellationToken)
    {
        var log = LogOf(record.Id);
        if (vm is { Power: PowerState.On })
        {
            var (running, answer) = await ConnectTetherAsync(backend, record.Id, log, cancellationToken).ConfigureAwait(false);
            switch (answer)
            {
                case TetherAnswer.State:
                    Log.Reattached(_logger, record.Id);
                    _runtime.Of(record.Id).PublicNic = vm.Public;
                    if (record.Networks.Values.Any(e => e.IpAddress.Length > 0) && ReferenceEquals(_runtime.RunningOf(record.Id), running))
                    {
                        // The fabric forgot its ports with the endpoint; the VM's NIC never noticed.
                        _fabric?.Join(BridgePortOf(record));
                    }

                    _healthchecks.Start(record, running!);
                    return;
                case TetherAnswer.ChannelEnded:
                    // The pump has recorded the exit it saw, or the VM's loss.
                    return;
                case TetherAnswer.Hello:
                    // The endpoint died between making the VM and handing it the spec: the process never ran.
                    await ForgetAsync(running!).ConfigureAwait(false);
                    await backend.PowerOffAsync(record.Id, force: true, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }

        MarkLost(record.Id);
    }

    /// <summary>The container's VM went while nobody watched: Docker's answer for a process killed with its host.</summary>
    private void MarkLost(string id)
    {
        LogOf(id).Close();
        var record = _containers.Resolve(id);
        if (record.Status is not (RunningStatus or PausedStatus))
        {
            return;
        }

        _containers.Transition(id, (who, s) => s.Exit(who, 137, _time.GetUtcNow(), "the ContainerVM stopped while the endpoint was away"), "die", new Dictionary<string, string> { ["exitCode"] = "137" });
        Log.Exited(_logger, id, 137);
    }
}
