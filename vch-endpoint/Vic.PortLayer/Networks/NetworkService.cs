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
public sealed partial class NetworkService : IBridgeResolver
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
    /// <param name="ipv6">IPv6 beside IPv4 (<c>--ipv6</c>, an IPv6 <c>--subnet</c>); null for none.</param>
    public NetworkRecord Create(string name, string? driver, string? subnet, string? gateway, string? ipRange, bool isInternal, bool attachable, IReadOnlyDictionary<string, string>? labels, IReadOnlyDictionary<string, string>? options, IReadOnlyDictionary<string, string>? auxiliaryAddresses = null, Ipv6Pool? ipv6 = null)
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

            var id = NewId();
            var (v6Subnet, v6Gateway, v6Range) = ipv6 is { } wanted ? PlanIpv6(id, wanted) : default;
            var record = new NetworkRecord
            {
                Id = id,
                Name = name,
                Ipv6Subnet = v6Subnet?.ToString() ?? "",
                Ipv6Gateway = v6Gateway ?? "",
                Ipv6Range = v6Range ?? "",
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
            catch (IOException)
            {
                // The store could not take it (a full disk): the network stays, the others are tried.
            }
        }

        _events.Publish(EventTypes.Network, "prune", "", new Dictionary<string, string>());
        return removed;
    }

    /// <summary>
    /// The IPv6 subnet, gateway and range of a new network: the ones asked for, or a unique local
    /// /64 (fdXX:...) made from the network's id, as dockerd's default IPv6 pools hand out ULAs.
    /// </summary>
    private (Ipv6Subnet? Subnet, string Gateway, string Range) PlanIpv6(string networkId, Ipv6Pool wanted)
    {
        var taken = _records.List().Where(n => n.EnableIpv6).Select(n => Ipv6Subnet.Parse(n.Ipv6Subnet)).ToList();
        Ipv6Subnet pool;
        if (wanted.Subnet.Length > 0)
        {
            pool = Ipv6Subnet.Parse(wanted.Subnet);
        }
        else
        {
            var bytes = new byte[16];
            bytes[0] = 0xfd;
            Convert.FromHexString(networkId.AsSpan(0, 10)).CopyTo(bytes, 1);
            pool = Ipv6Subnet.Parse($"{new IPAddress(bytes)}/64");
        }

        if (taken.FirstOrDefault(t => t.Overlaps(pool)) is { PrefixLength: > 0 } clash)
        {
            throw PortLayerException.Forbidden($"invalid pool request: Pool overlaps with other one on this address space ({clash})");
        }

        var gateway = wanted.Gateway.Length > 0 ? Ipv6Subnet.ParseAddress(wanted.Gateway, "IPv6 gateway") : Ipv6Subnet.ToAddress(pool.FirstHost);
        if (!pool.Contains(Ipv6Subnet.ToUInt128(gateway)))
        {
            throw PortLayerException.Forbidden($"no matching subnet for gateway {wanted.Gateway}");
        }

        var range = "";
        if (wanted.Range.Length > 0)
        {
            var parsed = Ipv6Subnet.Parse(wanted.Range, "ip-range");
            if (!pool.Contains(parsed.Network) || parsed.PrefixLength < pool.PrefixLength)
            {
                throw PortLayerException.Forbidden($"no matching subnet for range {wanted.Range}");
            }

            range = parsed.ToString();
        }

        return (pool, gateway.ToString(), range);
    }

    private static string LinkLocal(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && Ipv4Subnet.Parse("169.254.0.0/16").Contains(ip)
            ? ip.ToString()
            : throw PortLayerException.InvalidParameter($"invalid link-local IP address: {address}: a VCH takes IPv4 link-local addresses (169.254.0.0/16) (--link-local-ip)");

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
