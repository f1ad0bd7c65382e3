namespace Vic.PortLayer.Networks;

/// <summary>
/// A network of the VCH: the predefined <c>bridge</c> and <c>none</c>, or one a user created.
/// Bridge networks carry an IPv4 subnet from which the VCH hands out container addresses.
/// </summary>
public sealed record NetworkRecord
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    /// <summary><c>bridge</c> or <c>null</c> (the <c>none</c> network).</summary>
    public string Driver { get; init; } = "bridge";

    public DateTimeOffset Created { get; init; }

    /// <summary>The subnet, e.g. <c>172.18.0.0/16</c>; empty for the <c>none</c> network.</summary>
    public string Subnet { get; init; } = "";

    public string Gateway { get; init; } = "";

    /// <summary>The part of the subnet containers get addresses from; empty for all of it.</summary>
    public string IpRange { get; init; } = "";

    /// <summary><c>--aux-address</c>: named addresses of the subnet the VCH gives no container.</summary>
    public IReadOnlyDictionary<string, string> AuxiliaryAddresses { get; init; } = new Dictionary<string, string>();

    /// <summary>No way out of the network: containers only on internal networks have no outbound access.</summary>
    public bool Internal { get; init; }

    public bool Attachable { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();

    /// <summary>Made by the VCH itself (<c>bridge</c>, <c>none</c>); cannot be removed.</summary>
    public bool Predefined { get; init; }

    /// <summary>The default bridge: no name resolution between containers, as on dockerd.</summary>
    public bool IsDefaultBridge => Predefined && Name == NetworkService.DefaultBridge;

    public bool HasAddresses => Subnet.Length > 0;

    /// <summary>The IPv6 subnet beside the IPv4 one (<c>--ipv6</c>, or an IPv6 <c>--subnet</c>); empty for none.</summary>
    public string Ipv6Subnet { get; init; } = "";

    public string Ipv6Gateway { get; init; } = "";

    /// <summary>The part of the IPv6 subnet containers get addresses from; empty for all of it.</summary>
    public string Ipv6Range { get; init; } = "";

    public bool EnableIpv6 => Ipv6Subnet.Length > 0;
}

/// <summary>A container's attachment to one network, as inspect shows it under NetworkSettings.Networks.</summary>
public sealed record NetworkEndpoint
{
    public required string NetworkId { get; init; }

    public required string EndpointId { get; init; }

    /// <summary>The container's IPv4 address on the network; empty on <c>none</c>.</summary>
    public string IpAddress { get; init; } = "";

    public int PrefixLength { get; init; }

    public string Gateway { get; init; } = "";

    /// <summary>The address the user asked for with <c>--ip</c>; empty when the VCH chose.</summary>
    public string RequestedIp { get; init; } = "";

    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary><c>--link</c>s as <c>container:alias</c>.</summary>
    public IReadOnlyList<string> Links { get; init; } = [];

    public IReadOnlyList<string> LinkLocalIps { get; init; } = [];

    public IReadOnlyDictionary<string, string> DriverOpts { get; init; } = new Dictionary<string, string>();

    /// <summary>The container's IPv6 address on a network with IPv6; empty otherwise.</summary>
    public string Ipv6Address { get; init; } = "";

    public int Ipv6PrefixLength { get; init; }

    public string Ipv6Gateway { get; init; } = "";

    /// <summary>The address the user asked for with <c>--ip6</c>; empty when the VCH chose.</summary>
    public string RequestedIpv6 { get; init; } = "";

    public bool Equals(NetworkEndpoint? other) =>
        other is not null && (NetworkId, EndpointId, IpAddress, PrefixLength, Gateway, RequestedIp) == (other.NetworkId, other.EndpointId, other.IpAddress, other.PrefixLength, other.Gateway, other.RequestedIp)
        && (Ipv6Address, Ipv6PrefixLength, Ipv6Gateway, RequestedIpv6) == (other.Ipv6Address, other.Ipv6PrefixLength, other.Ipv6Gateway, other.RequestedIpv6)
        && Aliases.SequenceEqual(other.Aliases) && Links.SequenceEqual(other.Links) && LinkLocalIps.SequenceEqual(other.LinkLocalIps)
        && DriverOpts.Count == other.DriverOpts.Count && DriverOpts.All(o => other.DriverOpts.TryGetValue(o.Key, out var v) && v == o.Value);

    public override int GetHashCode() => HashCode.Combine(NetworkId, EndpointId, IpAddress);
}

/// <summary>What a create or connect asks of one network: <c>--ip</c>, <c>--network-alias</c>, <c>--link</c>.</summary>
public sealed record EndpointRequest(string Ipv4Address = "", IReadOnlyList<string>? Aliases = null, IReadOnlyList<string>? Links = null)
{
    /// <summary><c>--ip6</c>: the IPv6 address asked for on a network with IPv6.</summary>
    public string Ipv6Address { get; init; } = "";

    /// <summary><c>--link-local-ip</c>: IPv4 link-local addresses (169.254.0.0/16) the bridge NIC also takes.</summary>
    public IReadOnlyList<string> LinkLocalIps { get; init; } = [];

    /// <summary><c>--driver-opt</c>: options for the network driver, which the VCH's bridge keeps and, as dockerd's, acts on none of.</summary>
    public IReadOnlyDictionary<string, string> DriverOpts { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// IPv6 on a new network: <paramref name="Subnet"/>, <paramref name="Gateway"/> and
/// <paramref name="Range"/> as asked (empty: chosen by the VCH).
/// </summary>
public sealed record Ipv6Pool(string Subnet = "", string Gateway = "", string Range = "");
