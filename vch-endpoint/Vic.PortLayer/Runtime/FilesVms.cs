using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// A container's files for docker cp, diff, export and commit: a running container's tether serves
/// them; for a stopped one a ContainerVM is cloned over its disks under its VM gate, prepares the
/// root without running anything, and is destroyed afterwards. The container's state does not change.
/// </summary>
internal sealed class FilesVms(IComputeBackend? backend, ContainerCatalog containers, ContainerRuntimeTable runtime, ContainerVmRecipe recipe, TetherConnector connector)
{
    public async Task<T> UseAsync<T>(string idOrName, Func<ContainerFiles, Task<T>> work, CancellationToken cancellationToken)
    {
        var record = containers.Resolve(idOrName);
        if (record.Status.IsRunning && runtime.RunningOf(record.Id) is { } running)
        {
            return await work(new ContainerFiles(running, idOrName)).ConfigureAwait(false);
        }

        if (record.Status is RemovingStatus or DeadStatus)
        {
            throw PortLayerException.Conflict($"container {record.Id} is marked for removal");
        }

        var compute = backend ?? throw PortLayerException.NotImplemented("this VCH has no compute backend (start it with --backend qemu)");
        var gate = runtime.Of(record.Id).VmGate;
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        RunningContainer? files = null;
        try
        {
            if (runtime.RunningOf(record.Id) is { } started)
            {
                // Started while we waited for the gate: its tether serves.
                return await work(new ContainerFiles(started, idOrName)).ConfigureAwait(false);
            }

            if ((await compute.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
            {
                await compute.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }

            var disks = recipe.DisksOf(record);
            await compute.CloneAsync(recipe.FilesVmOf(record, disks), cancellationToken).ConfigureAwait(false);
            (files, var answer) = await connector.ConnectAsync(compute, record.Id, runtime.Of(record.Id).Log, cancellationToken, filesOnly: true).ConfigureAwait(false);
            if (answer != TetherAnswer.Hello || files is null)
            {
                throw new PortLayerException(ErrorKind.System, $"the files ContainerVM of {record.Id} did not answer ({answer})");
            }

            await files.Writer.WriteAsync(FrameType.Spec, 0, Payloads.Json(ContainerVmRecipe.FilesSpecOf(record, disks), InteractionJson.Default.ContainerSpec), cancellationToken).ConfigureAwait(false);
            return await work(new ContainerFiles(files, idOrName)).ConfigureAwait(false);
        }
        finally
        {
            if (files is not null)
            {
                await connector.LetGoAsync(files).ConfigureAwait(false);
            }

            if ((await compute.ListAsync(CancellationToken.None).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id) && runtime.RunningOf(record.Id) is null)
            {
                await compute.DestroyAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
            }

            gate.Release();
        }
    }
}
