using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// The backend's inventory watch, consumed: a ContainerVM powered off or deleted behind the VCH's
/// back (in vCenter, by a host failure, by a killed QEMU whose channel lingers) ends its container
/// as a VM that stopped unexpectedly (137), the same way a channel that closes without an exit does.
/// </summary>
public sealed partial class ContainerService
{
    /// <summary>
    /// How long a power-off waits for the container's own end: every ordinary stop powers the VM
    /// off right after the tether has sent the exit, and that exit must be read first.
    /// </summary>
    public static readonly TimeSpan WatchGrace = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _watching = new();

    private async Task WatchVmsAsync(IVmInventory backend)
    {
        try
        {
            await foreach (var change in backend.WatchAsync(_watching.Token).ConfigureAwait(false))
            {
                if ((change.Gone || change.Power != PowerState.On) && _runtime.RunningOf(change.VmId) is { } running)
                {
                    _ = EndIfStillRunningAsync(change, running);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The endpoint is stopping.
        }
        catch (Exception ex)
        {
            Log.WatchFailed(_logger, ex.Message);
        }
    }

    private async Task EndIfStillRunningAsync(ContainerVmChange change, RunningContainer running)
    {
        try
        {
            await Task.Delay(WatchGrace, _time, _watching.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (ReferenceEquals(_runtime.RunningOf(change.VmId), running))
        {
            Log.VmStoppedBehindOurBack(_logger, change.VmId, change.Gone ? "deleted" : "powered off");

            // The pump reads the closed channel as the VM's death: exit 137, "stopped unexpectedly".
            running.Dispose();
        }
    }
}
