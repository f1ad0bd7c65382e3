using Vic.Vim25;

namespace Vic.Machine;

/// <summary>A VCH whose endpoint runs in an appliance VM (<c>--appliance</c>): its arguments and its restart.</summary>
public sealed partial class VsphereInstaller
{
    /// <summary>
    /// The appliance's endpoint: its files on its config disk, vSphere as the appliance reaches it,
    /// the password in a file only root reads there, ContainerVMs' channels to the appliance's address.
    /// </summary>
    private List<string> ApplianceArguments(Where where) =>
    [
        .. EndpointSettings.Common(plan, EndpointHost.InAppliance),
        "--backend", "vsphere", "--target", (plan.ApplianceSdk ?? Placement.Session.Sdk).ToString(),
        "--password-file", $"{EndpointHost.ApplianceConfigDirectory}/{ApplianceDeployer.PasswordFile}",
        // ContainerVMs reach the appliance's address, which its NIC may not hold (NAT): every address of the appliance listens.
        "--channel-listen", "0.0.0.0",
        .. VsphereArguments(where, plan.Settings.ChannelAddress is null ? plan.Endpoint.Address : Placement.ChannelAddress),
    ];

    /// <summary>
    /// The appliance's restart: shut down (its endpoint asked to stop first), its config disk written
    /// again and, on upgrade, its ISO replaced, then powered on; the endpoint comes back with the
    /// state on its data disk.
    /// </summary>
    private async Task RestartApplianceAsync(VimSession session, Where where, bool upgrading, Func<Task>? whileStopped, CancellationToken cancellationToken)
    {
        var pool = await session.FindByInventoryPathAsync(where.PoolPath(plan.Name), cancellationToken).ConfigureAwait(false)
            ?? throw new MachineException($"the VCH {plan.Name} has no resource pool");
        var vm = (await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], cancellationToken, pool).ConfigureAwait(false)).FirstOrDefault(v => v.Text("name") == plan.Name)
            ?? throw new MachineException($"the VCH {plan.Name} has no appliance VM in its pool: delete the VCH and create it again");
        if (vm.Text("runtime.powerState") == "poweredOn")
        {
            await ShutDownApplianceAsync(session, pool, vm.Obj, cancellationToken).ConfigureAwait(false);
        }

        if (whileStopped is not null)
        {
            await WhileStoppedAsync(whileStopped).ConfigureAwait(false);
        }

        var appliance = new ApplianceDeployer(plan, progress);
        try
        {
            await appliance.RefreshAsync(session, new ApplianceSite(where.DatacenterPath, where.Datacenter, pool, where.Datastore), ApplianceArguments(where), Placement.Session.Password, upgrading, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Powered on again whatever the refresh met (with its old disk and ISO if they were not replaced): a VCH is never left without its endpoint.
            await session.PowerOnVmAsync(vm.Obj, CancellationToken.None).ConfigureAwait(false);
            progress.Step($"appliance VM {plan.Name} powered on");
        }

        await appliance.WaitForApiAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How long an appliance whose endpoint was asked to stop may take to power itself off before it is powered off.</summary>
    private static readonly TimeSpan ShutdownLimit = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The appliance's endpoint asked to stop, so that it ends its work and the appliance unmounts
    /// its data disk and powers off; powered off from vSphere when it cannot be asked or does not
    /// power off in time (the endpoint's state, a journalled ext4 and SQLite, recovers from that too).
    /// </summary>
    private async Task ShutDownApplianceAsync(VimSession session, ManagedObjectReference pool, ManagedObjectReference vm, CancellationToken cancellationToken)
    {
        if (await VchApiClient.StopEndpointAsync(plan, cancellationToken).ConfigureAwait(false))
        {
            var deadline = DateTime.UtcNow + ShutdownLimit;
            while (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
                var state = (await session.ListAsync("VirtualMachine", ["runtime.powerState"], cancellationToken, pool).ConfigureAwait(false)).FirstOrDefault(v => v.Obj.Value == vm.Value)?.Text("runtime.powerState");
                if (state != "poweredOn")
                {
                    progress.Step($"appliance VM {plan.Name} shut down: its endpoint stopped and it powered itself off");
                    return;
                }
            }

            progress.Step($"appliance VM {plan.Name} still on {ShutdownLimit.TotalSeconds:0} s after its endpoint was asked to stop: powering it off");
        }
        else
        {
            progress.Step($"the appliance's endpoint could not be asked to stop (vicadmin on {plan.Endpoint.Address}:{plan.VicadminPort}): powering the appliance off");
        }

        await session.PowerOffVmAsync(vm, cancellationToken).ConfigureAwait(false);
        progress.Step($"appliance VM {plan.Name} powered off");
    }
}
