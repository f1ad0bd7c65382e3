using System.Net;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;

namespace Vic.PortLayer.Networks;

/// <summary>Containers on networks: endpoints planned at create, connect and disconnect, and names resolved the way Docker's embedded DNS does.</summary>
public sealed partial class NetworkService
{
    /// <summary>
    /// The endpoints a new container gets: its <c>--network</c> (the default bridge when none is
    /// named), addresses allocated, and what the create asked of each network.
    /// </summary>
    public ContainerRecord CreateConnected(ContainerConfig config, Func<ContainerConfig, ContainerRecord> create)
    {
        lock (_gate)
        {
            var mode = config.NetworkMode is "" or "default" ? DefaultBridge : config.NetworkMode;
            if (mode == "host" || mode.StartsWith("container:", StringComparison.Ordinal))
            {
                throw PortLayerException.InvalidParameter($"network mode \"{mode}\" is not offered by a VCH: each container is its own VM; use a bridge network");
            }

            var first = Get(mode);
            var endpoints = new Dictionary<string, NetworkEndpoint>();
            var wanted = new List<(NetworkRecord Network, EndpointRequest Request)> { (first, RequestFor(config, first)) };
            foreach (var (name, request) in config.EndpointRequests)
            {
                var network = Get(name == "default" ? DefaultBridge : name);
                if (network.Id != first.Id)
                {
                    wanted.Add((network, request));
                }
            }

            if (wanted.Count > 1 && wanted.Any(w => !w.Network.HasAddresses))
            {
                throw PortLayerException.InvalidParameter("Container cannot be connected to network endpoints: none and others");
            }

            var used = UsedAddresses();
            foreach (var (network, request) in wanted)
            {
                endpoints[network.Name] = Plan(network, request with { Links = [.. request.Links ?? [], .. network.IsDefaultBridge ? config.Links : []] }, used);
            }

            if ((!first.HasAddresses) && (config.PortBindings.Count > 0 || config.PublishAllPorts))
            {
                throw PortLayerException.InvalidParameter("conflicting options: port publishing and the container type network mode");
            }

            var record = create(config);
            return _containers.Change(record.Id, r => r with { Networks = endpoints }, null);
        }
    }

    /// <summary><c>docker network connect</c>: records the container's new endpoint.</summary>
    public ContainerRecord Connect(string containerIdOrName, string networkIdOrName, EndpointRequest request)
    {
        lock (_gate)
        {
            var network = Get(networkIdOrName);
            var container = _containers.Resolve(containerIdOrName);
            if (container.Networks.ContainsKey(network.Name))
            {
                throw PortLayerException.Forbidden($"endpoint with name {container.Name} already exists in network {network.Name}");
            }

            if (!network.HasAddresses || container.Networks.Values.Any(e => e.IpAddress.Length == 0))
            {
                throw PortLayerException.InvalidParameter("container cannot be disconnected from host network or connected to host network");
            }

            var endpoint = Plan(network, request, UsedAddresses());
            var changed = _containers.Change(container.Id, r => r with { Networks = new Dictionary<string, NetworkEndpoint>(r.Networks) { [network.Name] = endpoint } }, null);
            _events.Publish(EventTypes.Network, "connect", network.Id, new Dictionary<string, string> { ["name"] = network.Name, ["type"] = "bridge", ["container"] = container.Id });
            return changed;
        }
    }

    /// <summary><c>docker network disconnect</c>, which the original VIC never had.</summary>
    public ContainerRecord Disconnect(string containerIdOrName, string networkIdOrName, bool force)
    {
        lock (_gate)
        {
            var container = _containers.Resolve(containerIdOrName);
            var network = Find(networkIdOrName);
            // force is for a container that is gone; one that is there must be connected, as on dockerd.
            if (network is null || !container.Networks.ContainsKey(network.Name))
            {
                throw network is null
                    ? PortLayerException.NotFound($"network {networkIdOrName} not found")
                    : PortLayerException.Forbidden($"container {container.Id} is not connected to network {network.Name}");
            }

            var remaining = container.Networks.Where(e => e.Key != network.Name).ToDictionary(e => e.Key, e => e.Value);
            var changed = _containers.Change(container.Id, r => r with { Networks = remaining }, null);
            _events.Publish(EventTypes.Network, "disconnect", network.Id, new Dictionary<string, string> { ["name"] = network.Name, ["type"] = "bridge", ["container"] = container.Id });
            return changed;
        }
    }

    /// <summary>
    /// Names as a container's embedded DNS sees them: container names, network aliases and short ids
    /// of the running containers on the user-defined networks it shares with them (the network the
    /// question came in on first), and its <c>--link</c> aliases. The default bridge resolves
    /// nothing else, as on dockerd.
    /// </summary>
    public ResolvedName? Resolve(string askingContainerId, string networkId, string name)
    {
        var wanted = name.TrimEnd('.');
        var containers = _containers.List();
        if (containers.FirstOrDefault(c => c.Id == askingContainerId) is not { } asking)
        {
            return null;
        }

        foreach (var (network, endpoint) in asking.Networks.Values
            .OrderBy(e => e.NetworkId == networkId ? 0 : 1)
            .Select(e => (Network: _records.Get(e.NetworkId), Endpoint: e))
            .Where(n => n.Network is { HasAddresses: true }))
        {
            var target = wanted;
            foreach (var link in endpoint.Links.Select(l => l.Split(':')).Where(l => l.Length == 2 && string.Equals(l[1], wanted, StringComparison.OrdinalIgnoreCase)))
            {
                target = link[0];
            }

            if (network!.IsDefaultBridge && string.Equals(target, wanted, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var c in containers.Where(c => c.Status.IsRunning))
            {
                if (c.Networks.Values.FirstOrDefault(e => e.NetworkId == network.Id) is not { IpAddress.Length: > 0 } theirs)
                {
                    continue;
                }

                var names = network.IsDefaultBridge ? [c.Name, c.Id] : theirs.Aliases.Append(c.Name).Append(c.Id[..12]);
                if (names.Any(n => string.Equals(n, target, StringComparison.OrdinalIgnoreCase)))
                {
                    return new ResolvedName(IPAddress.Parse(theirs.IpAddress), theirs.Ipv6Address.Length > 0 ? IPAddress.Parse(theirs.Ipv6Address) : null);
                }
            }
        }

        return null;
    }

    private static EndpointRequest RequestFor(ContainerConfig config, NetworkRecord network) =>
        config.EndpointRequests.TryGetValue(network.Name, out var byName) ? byName
        : network.IsDefaultBridge && config.EndpointRequests.TryGetValue("default", out var byMode) ? byMode
        : config.EndpointRequests.TryGetValue(network.Id, out var byId) ? byId
        : new EndpointRequest();

    private NetworkEndpoint Plan(NetworkRecord network, EndpointRequest request, HashSet<(string NetworkId, uint Address)> used)
    {
        if (!network.HasAddresses)
        {
            return new NetworkEndpoint { NetworkId = network.Id, EndpointId = NewId() };
        }

        if ((request.Aliases?.Count > 0 || request.Ipv4Address.Length > 0 || request.Ipv6Address.Length > 0) && network.IsDefaultBridge)
        {
            throw PortLayerException.InvalidParameter("user specified IP address and network-scoped aliases are supported only for user defined networks");
        }

        var subnet = Ipv4Subnet.Parse(network.Subnet);
        var gateway = Ipv4Subnet.ToUInt(IPAddress.Parse(network.Gateway));
        foreach (var reserved in network.AuxiliaryAddresses.Values)
        {
            used.Add((network.Id, Ipv4Subnet.ToUInt(IPAddress.Parse(reserved))));
        }

        uint address;
        if (request.Ipv4Address.Length > 0)
        {
            address = Ipv4Subnet.ToUInt(Ipv4Subnet.ParseAddress(request.Ipv4Address, "IPv4 address"));
            if (!subnet.Contains(address) || address == subnet.Network || address == subnet.Broadcast)
            {
                throw PortLayerException.InvalidParameter($"invalid endpoint settings: the address {request.Ipv4Address} is not in the subnet {network.Subnet} of network {network.Name}");
            }

            if (address == gateway || used.Contains((network.Id, address)))
            {
                throw PortLayerException.Conflict($"Address already in use: {request.Ipv4Address} on network {network.Name}");
            }
        }
        else
        {
            var range = network.IpRange.Length > 0 ? Ipv4Subnet.Parse(network.IpRange) : subnet;
            address = 0;
            for (var candidate = Math.Max(range.Network, subnet.Network + 1); candidate <= Math.Min(range.Broadcast, subnet.Broadcast - 1); candidate++)
            {
                if (candidate != gateway && !used.Contains((network.Id, candidate)))
                {
                    address = candidate;
                    break;
                }
            }

            if (address == 0)
            {
                throw PortLayerException.Conflict($"no available IPv4 addresses on network {network.Name}");
            }
        }

        used.Add((network.Id, address));
        var (ipv6, ipv6Prefix) = PlanIpv6(network, request);
        return new NetworkEndpoint
        {
            Ipv6Address = ipv6,
            Ipv6PrefixLength = ipv6Prefix,
            Ipv6Gateway = network.Ipv6Gateway,
            RequestedIpv6 = request.Ipv6Address,
            NetworkId = network.Id,
            EndpointId = NewId(),
            IpAddress = Ipv4Subnet.ToAddress(address).ToString(),
            PrefixLength = subnet.PrefixLength,
            Gateway = network.Gateway,
            RequestedIp = request.Ipv4Address,
            Aliases = request.Aliases ?? [],
            Links = request.Links ?? [],
            LinkLocalIps = [.. request.LinkLocalIps.Select(LinkLocal)],
            DriverOpts = request.DriverOpts,
        };
    }

    /// <summary>The container's IPv6 address on a network with IPv6: the one asked for, or the next free one of its range.</summary>
    private (string Address, int PrefixLength) PlanIpv6(NetworkRecord network, EndpointRequest request)
    {
        if (!network.EnableIpv6)
        {
            return request.Ipv6Address.Length > 0
                ? throw PortLayerException.InvalidParameter($"invalid endpoint settings: network {network.Name} has no IPv6 (create it with --ipv6 or an IPv6 --subnet) for the address {request.Ipv6Address}")
                : ("", 0);
        }

        var subnet = Ipv6Subnet.Parse(network.Ipv6Subnet);
        var gateway = Ipv6Subnet.ToUInt128(IPAddress.Parse(network.Ipv6Gateway));
        var used = _containers.List().SelectMany(c => c.Networks.Values)
            .Where(e => e.NetworkId == network.Id && e.Ipv6Address.Length > 0)
            .Select(e => Ipv6Subnet.ToUInt128(IPAddress.Parse(e.Ipv6Address))).ToHashSet();
        if (request.Ipv6Address.Length > 0)
        {
            var asked = Ipv6Subnet.ToUInt128(Ipv6Subnet.ParseAddress(request.Ipv6Address, "IPv6 address"));
            if (!subnet.Contains(asked) || asked == subnet.Network)
            {
                throw PortLayerException.InvalidParameter($"invalid endpoint settings: the address {request.Ipv6Address} is not in the subnet {network.Ipv6Subnet} of network {network.Name}");
            }

            return asked == gateway || used.Contains(asked)
                ? throw PortLayerException.Conflict($"Address already in use: {request.Ipv6Address} on network {network.Name}")
                : (Ipv6Subnet.ToAddress(asked).ToString(), subnet.PrefixLength);
        }

        var range = network.Ipv6Range.Length > 0 ? Ipv6Subnet.Parse(network.Ipv6Range) : subnet;
        // The subnet's own (all-zero) address is no host's; the range's last address ends the walk.
        for (var candidate = range.Network == subnet.Network ? range.Network + 1 : range.Network; ; candidate++)
        {
            if (candidate != gateway && !used.Contains(candidate))
            {
                return (Ipv6Subnet.ToAddress(candidate).ToString(), subnet.PrefixLength);
            }

            if (candidate == range.Last)
            {
                break;
            }
        }

        throw PortLayerException.Conflict($"no available IPv6 addresses on network {network.Name}");
    }

    private HashSet<(string NetworkId, uint Address)> UsedAddresses() =>
        [.. _containers.List().SelectMany(c => c.Networks.Values).Where(e => e.IpAddress.Length > 0).Select(e => (e.NetworkId, Ipv4Subnet.ToUInt(IPAddress.Parse(e.IpAddress))))];
}
