namespace Vic.PortLayer.Networks;

/// <summary>
/// A vSphere port group mapped straight into containers (<c>--container-network</c>): a Docker
/// network of driver <c>external</c>, whose containers get a NIC of their own on the port group, an
/// address from <paramref name="IpRange"/> of <paramref name="Subnet"/>, and their way out through
/// <paramref name="Gateway"/> rather than the VCH.
/// </summary>
public sealed record ContainerNetworkConfig(string Name, string PortGroup, string Subnet, string Gateway, string IpRange, IReadOnlyList<string> Nameservers)
{
    public const string Driver = "external";

    /// <summary>The NetworkRecord option that names the port group.</summary>
    public const string PortGroupOption = "portgroup";
}
