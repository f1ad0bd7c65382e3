using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// The last step of every removal (docker rm, <c>--rm</c>, a start of a <c>--rm</c> container that
/// failed, a removal an endpoint crash interrupted): the ContainerVM destroyed, the container off
/// the bridge fabric, its folder deleted, its record forgotten and its runtime state disposed.
/// </summary>
internal sealed class ContainerTeardown(ContainerCatalog containers, ContainerRuntimeTable runtime, IComputeBackend? backend, ContainerNetworking networking, string containersDirectory)
{
    /// <summary>Forgets a container whose removal began (its status is removing).</summary>
    public async Task ForgetAsync(ContainerRecord record, CancellationToken cancellationToken)
    {
        if (backend is not null && (await backend.ListAsync(cancellationToken).ConfigureAwait(false)).Any(vm => vm.VmId == record.Id))
        {
            try
            {
                await backend.DestroyAsync(record.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // Gone between the listing and the destroy: what removal wanted.
            }
        }

        networking.LeaveBridge(record.Id);
        networking.Unpublish(record.Id);
        var folder = Path.Combine(containersDirectory, record.Id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        containers.Forget(record.Id);
        runtime.Drop(record.Id, record.Status.ExitCode);

        // Its peers forget its name once the catalog has.
        networking.RefreshPeers();
    }

    /// <summary>Removes a <c>--rm</c> container whose run ended (or whose start failed), as dockerd does; its client waits for that.</summary>
    public async Task AutoRemoveAsync(string id)
    {
        var removing = containers.Transition(id, (who, s) => s.BeginRemoval(who, force: true), null);
        await ForgetAsync(removing, CancellationToken.None).ConfigureAwait(false);
    }
}
