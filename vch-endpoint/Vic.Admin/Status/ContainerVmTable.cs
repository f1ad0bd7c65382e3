using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.Admin.Status;

/// <summary>
/// One ContainerVM as the admin sees it: the container's record joined with what the hypervisor says
/// of its VM (the VM's name in vSphere's inventory, its power state, how it was provisioned).
/// </summary>
public sealed record ContainerVmRow(
    string Id,
    string Name,
    string State,
    string Image,
    IReadOnlyList<string> Addresses,
    IReadOnlyList<string> Ports,
    int Cpus,
    long MemoryBytes,
    DateTimeOffset Created,
    DateTimeOffset? StartedAt,
    int ExitCode,
    string? VmName,
    string? Power,
    string? Provisioning);

/// <summary>Builds the ContainerVM table from the catalog and the backend's inventory.</summary>
public sealed class ContainerVmTable(ContainerCatalog containers, IVmInventory? backend)
{
    public async Task<IReadOnlyList<ContainerVmRow>> ListAsync(CancellationToken cancellationToken)
    {
        var vms = backend is null
            ? new Dictionary<string, ContainerVm>()
            : (await backend.ListAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(vm => vm.VmId, StringComparer.Ordinal);
        return [.. containers.List().OrderByDescending(c => c.Created).Select(c => Row(c, vms.GetValueOrDefault(c.Id)))];
    }

    private static ContainerVmRow Row(ContainerRecord record, ContainerVm? vm)
    {
        var resources = vm?.Resources ?? ContainerService.ResourcesFor(record.Config);
        var addresses = record.Networks
            .Where(n => n.Value.IpAddress.Length > 0)
            .Select(n => $"{n.Value.IpAddress} ({n.Key})")
            .ToList();
        if (vm?.Public is { } nic)
        {
            addresses.Add($"{nic.Address} (public)");
        }

        return new ContainerVmRow(
            record.Id,
            record.Name,
            record.Status.State.ToWire(),
            record.Image,
            addresses,
            [.. record.Ports.Select(p => $"{(p.HostIp.Length == 0 ? "0.0.0.0" : p.HostIp)}:{p.HostPort}->{p.ContainerPort}/{p.Protocol}")],
            resources.Cpus,
            resources.MemoryBytes,
            record.Created,
            record.Status.StartedAt,
            record.Status.ExitCode,
            vm?.Name,
            vm?.Power.ToString().ToLowerInvariant(),
            vm?.Provisioning switch
            {
                ProvisioningPath.InstantClone => "instant clone",
                ProvisioningPath.LinkedClone => "linked clone",
                ProvisioningPath.ColdBoot => "cold boot",
                _ => null,
            });
    }
}
