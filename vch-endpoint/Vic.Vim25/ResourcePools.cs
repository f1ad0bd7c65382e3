using System.Xml.Linq;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>A pool's CPU (MHz) and memory (MiB) limits; null is unlimited.</summary>
public sealed record PoolLimits(long? CpuMhz, long? MemoryMb);

/// <summary>Resource pools and vApps: where a VCH's ContainerVMs run, and its CPU and memory limits.</summary>
public static class ResourcePools
{
    public static Task<ManagedObjectReference> CreateResourcePoolAsync(this VimSession session, ManagedObjectReference parent, string name, PoolLimits limits, CancellationToken cancellationToken) =>
        session.InvokeAsync("CreateResourcePool", parent, [E("name", name), SpecOf(limits)], ToRef, cancellationToken);

    /// <summary>Changes a pool's limits (and its name when <paramref name="name"/> is given).</summary>
    public static Task UpdatePoolAsync(this VimSession session, ManagedObjectReference pool, string? name, PoolLimits limits, CancellationToken cancellationToken) =>
        session.InvokeAsync("UpdateConfig", pool, [Opt("name", name), SpecOf(limits, "config")], cancellationToken);

    /// <summary>Reads a pool's limits back from <c>config</c>.</summary>
    public static async Task<PoolLimits> ReadLimitsAsync(this VimSession session, ManagedObjectReference pool, CancellationToken cancellationToken)
    {
        var content = await session.RetrieveOneAsync(pool, ["config.cpuAllocation.limit", "config.memoryAllocation.limit"], cancellationToken).ConfigureAwait(false);
        return new PoolLimits(Limit(content.Text("config.cpuAllocation.limit")), Limit(content.Text("config.memoryAllocation.limit")));
    }

    private static long? Limit(string? text) => text is null || text == "-1" ? null : long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static XElement SpecOf(PoolLimits limits, string element = "spec") =>
        E(element, Allocation("cpuAllocation", limits.CpuMhz), Allocation("memoryAllocation", limits.MemoryMb));

    // Reservations stay 0 and expandable: the VCH limits what its ContainerVMs may use, it does not claim it.
    private static XElement Allocation(string name, long? limit) => E(
        name,
        E("reservation", 0),
        E("expandableReservation", true),
        E("limit", limit ?? -1),
        E("shares", E("shares", 4000), E("level", "normal")));
}
