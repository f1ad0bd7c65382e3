using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Vch;

/// <summary>Registry settings the VCH applies to pulls; shown in <c>docker info</c>.</summary>
public sealed record RegistryConfig(IReadOnlyList<string> InsecureRegistries, IReadOnlyList<string> Mirrors)
{
    public static RegistryConfig Default { get; } = new([], []);

    /// <summary>PEM files of CAs trusted for every registry (VIC's <c>--registry-ca</c>), beside certs.d's per-registry ones.</summary>
    public IReadOnlyList<string> CertificateAuthorities { get; init; } = [];

    /// <summary>The proxies registries are reached through (<c>--http-proxy</c>, <c>--https-proxy</c>, <c>--no-proxy</c>, else the environment's).</summary>
    public Vic.Registry.ProxySettings Proxies { get; init; } = Vic.Registry.ProxySettings.None;

    /// <summary><c>docker info</c>'s HTTPProxy, HTTPSProxy and NoProxy: a proxy's password shown as <c>xxxxx</c>, as dockerd shows it.</summary>
    public (string HttpProxy, string HttpsProxy, string NoProxy) ShownProxies =>
        (Vic.Registry.ProxySettings.Masked(Proxies.HttpProxy), Vic.Registry.ProxySettings.Masked(Proxies.HttpsProxy), Proxies.NoProxy ?? "");
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
    /// <summary>The virtual size of each layer disk (8 GiB, VIC's default): the most one layer can hold.</summary>
    public long LayerCapacityBytes { get; init; } = 8L << 30;

    /// <summary>The volume stores; the local one is labelled <c>default</c> unless an NFS store takes that label.</summary>
    public IReadOnlyList<Volumes.VolumeStoreConfig> VolumeStores { get; init; } = [Volumes.VolumeStoreConfig.Local];

    /// <summary>Port groups mapped into containers as networks of their own (vSphere).</summary>
    public IReadOnlyList<Networks.ContainerNetworkConfig> ContainerNetworks { get; init; } = [];

    public string StorePath => Path.Combine(DataDirectory, "vch.db");

    /// <summary>Layer disks and image configs.</summary>
    public string ImageStorePath => Path.Combine(DataDirectory, "imagestore");

    /// <summary>Per-registry CA certificates, one folder per host holding <c>ca.crt</c>, as /etc/docker/certs.d.</summary>
    public string RegistryCertificatesPath => Path.Combine(DataDirectory, "certs.d");
}
