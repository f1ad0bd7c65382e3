using Vic.Vim25;

namespace Vic.Machine;

/// <summary>Where <c>--compute-resource</c> points: the cluster or host, and the pool the VCH's pool goes in.</summary>
/// <param name="ComputeResourcePath">The cluster or host, <c>DC0/host/DC0_C0</c>.</param>
/// <param name="ParentPoolPath">Its root pool (<c>.../Resources</c>) or a pool under it.</param>
public sealed record ComputeResourcePlace(string ComputeResourcePath, string ParentPoolPath, ManagedObjectReference ParentPool);

/// <summary>
/// Reads <c>--compute-resource</c> in every form VIC's vic-machine took: a cluster or host name
/// (<c>cluster1</c>), a pool in it (<c>cluster1/pool</c>, <c>cluster1/Resources/pool</c>), or an
/// inventory path (<c>/DC0/host/cluster1</c>, <c>/DC0/host/cluster1/Resources/pool</c>); host
/// folders in between are allowed.
/// </summary>
public static class ComputeResourceLocator
{
    /// <summary>The datacenter a full inventory path names (<c>/DC0/host/...</c>), if it names one.</summary>
    public static string? DatacenterOf(string given)
    {
        var host = given.IndexOf("/host/", StringComparison.Ordinal);
        return given.StartsWith('/') && host > 1 ? given[1..host] : null;
    }

    public static async Task<ComputeResourcePlace> LocateAsync(VimSession session, string datacenterPath, string given, CancellationToken cancellationToken)
    {
        var trimmed = given.Trim('/');
        var prefix = $"{datacenterPath}/host/";
        var underHostFolder = trimmed.StartsWith(prefix, StringComparison.Ordinal) ? trimmed[prefix.Length..] : trimmed;
        var segments = underHostFolder.Split('/', StringSplitOptions.RemoveEmptyEntries);

        // The longest leading part that is a cluster or host; what follows is a pool inside it.
        for (var take = segments.Length; take >= 1; take--)
        {
            var candidate = prefix + string.Join('/', segments[..take]);
            if (await session.FindByInventoryPathAsync(candidate, cancellationToken).ConfigureAwait(false) is not { Type: "ClusterComputeResource" or "ComputeResource" })
            {
                continue;
            }

            var pools = segments[take..];
            if (pools.FirstOrDefault() == "Resources")
            {
                pools = pools[1..];
            }

            var poolPath = string.Join('/', [$"{candidate}/Resources", .. pools]);
            var pool = await session.FindByInventoryPathAsync(poolPath, cancellationToken).ConfigureAwait(false)
                ?? throw new MachineException(pools.Length == 0
                    ? $"--compute-resource {given} has no resource pool"
                    : $"--compute-resource {given}: no resource pool {string.Join('/', pools)} in {candidate}");
            return new ComputeResourcePlace(candidate, poolPath, pool);
        }

        throw new MachineException($"--compute-resource {given}: no such cluster or host in {datacenterPath}");
    }
}
