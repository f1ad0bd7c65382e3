using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Runtime;

/// <summary>The one way the runtime ends a ContainerVM without its tether's help.</summary>
internal static class VmPower
{
    /// <summary>Powers the VM off at once; a VM already gone (deleted behind the VCH's back) is what was wanted.</summary>
    public static async Task ForceOffAsync(this IVmPower power, string id, CancellationToken cancellationToken)
    {
        try
        {
            await power.PowerOffAsync(id, force: true, cancellationToken).ConfigureAwait(false);
        }
        catch (PortLayerException ex) when (ex.Kind == ErrorKind.NotFound)
        {
            // Nothing is left to power off.
        }
    }
}
