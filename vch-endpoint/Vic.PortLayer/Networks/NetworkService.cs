using System.Net;
using System.Security.Cryptography;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Networks;

/// <summary>
/// The VCH's networks and the containers' places on them: creates and removes networks, hands out
/// addresses (IPAM) and answers the bridge fabric's name questions. It keeps records only; making
/// a running ContainerVM follow a change is the container runtime's part.
/// </summary>
public sealed class NetworkService : IBridgeResolver
{
    public const string DefaultBridge = "bridge";
    public const string None = "none";

    private readonly StoreCollection<NetworkRecord> _records;
    private readonly ContainerCatalog _containers;
    private readonly EventBus _events;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();

    public NetworkService(VchStore store, ContainerCatalog containers, EventBus events, TimeProvider time, IReadOnlyList<ContainerNetworkConfig>? containerNetworks = null)
    {
        _records = store.Collection<NetworkRecord>(RecordKind.Network);
        _containers = containers;
        _events = events;
        _time = time;
        lock (_gate)
        {
            if (FindByName(DefaultBridge) is null)
            {
                Put(new NetworkRecord { Id = NewId(), Name = DefaultBridge, Created = time.GetUtcNow(), Subnet = "172.17.0.0/16", Gateway = "172.17.0.1", Predefined = true });
            }

            if (FindByName(None) is null)
            {
                Put(new NetworkRecord { Id = NewId(), Name = None, Driver = "null", Created = time.GetUtcNow(), Predefined = true });
            }

            DefineContainerNetworks(containerNetworks ?? []);
        }
    }

    /// <summary>
    /// Makes (or brings up to date) a predefined network for each configured port group; one no
    /// longer configured goes once no container uses it.
    /// </summary>
    private void DefineContainerNetworks(IReadOnlyList<ContainerNetworkConfig> networks)
    {
        foreach (var config in networks)
        {
            var subnet = Ipv4Subnet.Parse(config.Subnet);
            var range = config.IpRange.Length > 0 ? Ipv4Subnet.Parse(config.IpRange, "ip range") : subnet;
            if (!subnet.Contains(Ipv4Subnet.ParseAddress(config.Gateway, "gateway")) || !subnet.Contains(range.Network) || !subnet.Contains(range.Broadcast))
            {
                throw PortLayerException.InvalidParameter($"container network {config.Name}: the gateway and range must lie in {config.Subnet}");
            }

            var existing = FindByName(config.Name);
            Put(new NetworkRecord
            {
                Id = existing?.Id ?? NewId(),
                Name = config.Name,
                Driver = ContainerNetworkConfig.Driver,
                Created = existing?.Created ?? _time.GetUtcNow(),
                Subnet = subnet.ToString(),
                Gateway = config.Gateway,
                IpRange = config.IpRange,
                Predefined = true,
                Options = new Dictionary<string, string> { [ContainerNetworkConfig.PortGroupOption] = config.PortGroup, ["dns"] = string.Join(',', config.Nameservers) },
            });
        }

        foreach (var stale in List().Where(n => n.Driver == ContainerNetworkConfig.Driver && networks.All(c => c.Name != n.Name)))
        {
            if (_containers.List().All(c => !c.Networks.Values.Any(e => e.NetworkId == stale.Id)))
            {
                _records.Delete(stale.Id);
            }
        }
    }

    public IReadOnlyList<NetworkRecord> List() => [.. _records.List().OrderBy(n => n.Created).ThenBy(n => n.Name, StringComparer.Ordinal)];

    /// <summary>A network by full id, exact name, or unique id prefix, as dockerd finds one.</summary>
    public NetworkRecord? Find(string idOrName)
    {
        var all = _records.List();
        if (all.FirstOrDefault(n => n.Id == idOrName) is { } byId)
        {
            return byId;
        }

        if (all.FirstOrDefault(n => n.Name == idOrName) is { } byName)
        {
            return byName;
        }

        var prefixed = all.Where(n => idOrName.Length > 0 && n.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
        return prefixed.Count == 1 ? prefixed[0] : null;
    }

    public NetworkRecord Get(string idOrName) => Find(idOrName) ?? throw PortLayerException.NotFound($"network {idOrName} not found");

    /// <param name="auxiliaryAddresses"><c>--aux-address name=ip</c>: addresses of the subnet no container is given.</param>
    public NetworkRecord Create(string name, string? driver, string? subnet, string? gateway, string? ipRange, bool isInternal, bool attachable, IReadOnlyDictionary<string, string>? labels, IReadOnlyDictionary<string, string>? options, IReadOnlyDictionary<string, string>? auxiliaryAddresses = null)
    {
        if (name.Length == 0)
        {
            throw PortLayerException.InvalidParameter("network name must not be empty");
        }

        if (driver is { Length: > 0 } && driver != "bridge")
        {
            throw PortLayerException.InvalidParameter($"network driver \"{driver}\" is not offered by a VCH: its networks are bridge networks");
        }

        lock (_gate)
        {
            if (FindByName(name) is not null)
            {
                throw PortLayerException.Conflict($"network with name {name} already exists");
            }

            var taken = _records.List().Where(n => n.HasAddresses).Select(n => Ipv4Subnet.Parse(n.Subnet)).ToList();
            var pool = subnet is { Length: > 0 } ? Ipv4Subnet.Parse(subnet) : FreeSubnet(taken);
            if (taken.FirstOrDefault(t => t.Overlaps(pool)) is { PrefixLength: > 0 } clash)
            {
                throw PortLayerException.Forbidden($"invalid pool request: Pool overlaps with other one on this address space ({clash})");
            }

            var gatewayAddress = gateway is { Length: > 0 } ? Ipv4Subnet.ParseAddress(gateway, "gateway") : Ipv4Subnet.ToAddress(pool.FirstHost);
            if (!pool.Contains(gatewayAddress))
            {
                throw PortLayerException.Forbidden($"no matching subnet for gateway {gateway}");
            }

            if (ipRange is { Length: > 0 } && !pool.Contains(Ipv4Subnet.Parse(ipRange, "ip-range").Network))
            {
                throw PortLayerException.Forbidden($"no matching subnet for range {ipRange}");
            }

            auxiliaryAddresses ??= new Dictionary<string, string>();
            foreach (var (auxName, auxAddress) in auxiliaryAddresses)
            {
                if (!pool.Contains(Ipv4Subnet.ParseAddress(auxAddress, "aux-address")))
                {
                    throw PortLayerException.Forbidden($"no matching subnet for aux-address {auxAddress} ({auxName})");
                }
            }

            var record = new NetworkRecord
            {
                Id = NewId(),
                Name = name,
                AuxiliaryAddresses = auxiliaryAddresses,
                Created = _time.GetUtcNow(),
                Subnet = pool.ToString(),
                Gateway = gatewayAddress.ToString(),
                IpRange = ipRange is { Length: > 0 } ? Ipv4Subnet.Parse(ipRange, "ip-range").ToString() : "",
                Internal = isInternal,
                Attachable = attachable,
                Labels = labels ?? new Dictionary<string, string>(),
                Options = options ?? new Dictionary<string, string>(),
            };
            Put(record);
            _events.Publish(EventTypes.Network, "create", record.Id, new Dictionary<string, string> { ["name"] = name, ["type"] = "bridge" });
            return record;
        }
    }

    /// <summary>The containers connected to the network, by id.</summary>
    public IReadOnlyList<ContainerRecord> ContainersOn(NetworkRecord network) =>
        [.. _containers.List().Where(c => c.Networks.Values.Any(e => e.NetworkId == network.Id))];

    public void Remove(string idOrName)
    {
        lock (_gate)
        {
            var network = Get(idOrName);
            if (network.Predefined)
            {
                throw PortLayerException.Forbidden($"{network.Name} is a pre-defined network and cannot be removed");
            }

            if (ContainersOn(network).Count > 0)
            {
                throw PortLayerException.Forbidden($"error while removing network: network {network.Name} id {network.Id} has active endpoints");
            }

            _records.Delete(network.Id);
            _events.Publish(EventTypes.Network, "destroy", network.Id, new Dictionary<string, string> { ["name"] = network.Name, ["type"] = "bridge" });
        }
    }

    /// <summary>Removes the user-defined networks no container is connected to.</summary>
    public IReadOnlyList<string> Prune(Func<NetworkRecord, bool> matches)
    {
        var removed = new List<string>();
        foreach (var network in List().Where(n => !n.Predefined && matches(n)))
        {
            try
            {
                Remove(network.Id);
                removed.Add(network.Name);
            }
            catch (PortLayerException)
            {
                // Connected to meanwhile.
            }
        }

        _events.Publish(EventTypes.Network, "prune", "", new Dictionary<string, string>());
        return removed;
    }

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
    public IPAddress? Resolve(string askingContainerId, string networkId, string name)
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
                    return IPAddress.Parse(theirs.IpAddress);
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

    private static NetworkEndpoint Plan(NetworkRecord network, EndpointRequest request, HashSet<(string NetworkId, uint Address)> used)
    {
        if (!network.HasAddresses)
        {
            return new NetworkEndpoint { NetworkId = network.Id, EndpointId = NewId() };
        }

        if ((request.Aliases?.Count > 0 || request.Ipv4Address.Length > 0) && network.IsDefaultBridge)
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
        return new NetworkEndpoint
        {
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

    private static string LinkLocal(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && Ipv4Subnet.Parse("169.254.0.0/16").Contains(ip)
            ? ip.ToString()
            : throw PortLayerException.InvalidParameter($"invalid link-local IP address: {address}: a VCH takes IPv4 link-local addresses (169.254.0.0/16) (--link-local-ip)");

    private HashSet<(string NetworkId, uint Address)> UsedAddresses() =>
        [.. _containers.List().SelectMany(c => c.Networks.Values).Where(e => e.IpAddress.Length > 0).Select(e => (e.NetworkId, Ipv4Subnet.ToUInt(IPAddress.Parse(e.IpAddress))))];

    /// <summary>Docker's default address pools: 172.17-31.0.0/16, then 192.168.0-240.0/20.</summary>
    private static Ipv4Subnet FreeSubnet(List<Ipv4Subnet> taken)
    {
        var candidates = Enumerable.Range(17, 15).Select(b => Ipv4Subnet.Parse($"172.{b}.0.0/16"))
            .Concat(Enumerable.Range(0, 16).Select(i => Ipv4Subnet.Parse($"192.168.{i * 16}.0/20")));
        foreach (var candidate in candidates)
        {
            if (!taken.Any(t => t.Overlaps(candidate)))
            {
                return candidate;
            }
        }

        throw PortLayerException.Forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
    }

    private NetworkRecord? FindByName(string name) => _records.List().FirstOrDefault(n => n.Name == name);

    private void Put(NetworkRecord record) => _records.Put(record.Id, record.Name, record);

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
