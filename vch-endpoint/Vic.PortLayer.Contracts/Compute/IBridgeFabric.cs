using System.Net;

namespace Vic.PortLayer.Compute;

/// <summary>
/// The layer-2 segment that carries the VCH's bridge networks between ContainerVMs. Vocabulary:
/// <list type="bullet">
/// <item><b>port</b> — one ContainerVM's bridge NIC, known by its MAC, with an address on each
/// bridge network the container is connected to.</item>
/// <item><b>gateway</b> — the fabric itself: it answers ARP and ping for every network's gateway
/// address and DNS on port 53 there, asking the <see cref="IBridgeResolver"/> for container names.</item>
/// </list>
/// Networks share the segment, as VIC's bridge networks shared one port group; the fabric keeps
/// them apart: a frame only reaches ports that share a network with its sender.
/// </summary>
public interface IBridgeFabric
{
    /// <summary>Lets a port onto the segment, or replaces its addresses if it is on already.</summary>
    void Join(BridgePort port);

    /// <summary>Takes a container's port off the segment; unknown containers are ignored.</summary>
    void Leave(string containerId);

    /// <summary>Set once by the port layer, which knows container names and aliases.</summary>
    IBridgeResolver? Resolver { get; set; }
}

/// <summary>One ContainerVM's place on the bridge segment.</summary>
public sealed record BridgePort(string ContainerId, string Mac, IReadOnlyList<BridgeAddress> Addresses);

/// <summary>An address of a port on one bridge network.</summary>
public sealed record BridgeAddress(string NetworkId, IPAddress Address, int PrefixLength, IPAddress Gateway);

/// <summary>Names as a container sees them on one of its networks.</summary>
public interface IBridgeResolver
{
    /// <summary>The addresses of <paramref name="name"/> on the network, asked by a container; null if the VCH does not know it.</summary>
    ResolvedName? Resolve(string askingContainerId, string networkId, string name);
}

/// <summary>A container's addresses on one network: IPv4 always, IPv6 on a network with IPv6.</summary>
public sealed record ResolvedName(IPAddress Ipv4, IPAddress? Ipv6);
