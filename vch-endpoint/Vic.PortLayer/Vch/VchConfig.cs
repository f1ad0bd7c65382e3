using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Vch;

/// <summary>Registry settings the VCH applies to pulls; shown in <c>docker info</c>.</summary>
public sealed record RegistryConfig(IReadOnlyList<string> InsecureRegistries, IReadOnlyList<string> Mirrors)
{
    public static RegistryConfig Default { get; } = new([], []);
}

/// <summary>
/// The validated settings of one VCH, fixed for the life of the endpoint process.
/// </summary>
/// <param name="Name">The VCH's name, shown as <c>Name</c> in <c>docker info</c>.</param>
/// <param name="DataDirectory">Where the store and per-container files live.</param>
/// <param name="PoolLimit">The CPU and memory all ContainerVMs together may use.</param>
/// <param name="ContainerVmKernel">The kernel the ContainerVMs boot, or null when none is configured yet.</param>
public sealed record VchConfig(
    string Name,
    string DataDirectory,
    VmResources PoolLimit,
    string? ContainerVmKernel,
    RegistryConfig Registries)
{
    public string StorePath => Path.Combine(DataDirectory, "vch.db");
}
