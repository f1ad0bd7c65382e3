using System.Net;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// A container's networking at run time: the host ports it publishes, how its ContainerVM is
/// wired, what its guest NICs are told, its port on the bridge fabric, and connect and disconnect
/// while it runs.
/// </summary>
/// <param name="relays">The endpoint's listeners for published ports, when the backend does not forward them itself.</param>
internal sealed class ContainerNetworking(ContainerCatalog containers, NetworkService networkService, ContainerRuntimeTable runtime, IBridgeFabric? fabric, PublishedPortRelays? relays = null)
{
    private int _refreshingPeers;
    private int _peersWanted;

    /// <summary><c>docker network connect</c>: recorded, and applied at once to a running container.</summary>
    public async Task ConnectAsync(string containerIdOrName, string networkIdOrName, EndpointRequest request, CancellationToken cancellationToken)
    {
        var record = networkService.Connect(containerIdOrName, networkIdOrName, request);
        await ApplyAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>docker network disconnect</c>: recorded, and applied at once to a running container.</summary>
    public async Task DisconnectAsync(string containerIdOrName, string networkIdOrName, bool force, CancellationToken cancellationToken)
    {
        var record = networkService.Disconnect(containerIdOrName, networkIdOrName, force);
        await ApplyAsync(record, cancellationToken).ConfigureAwait(false);
    }

    private async Task ApplyAsync(ContainerRecord record, CancellationToken cancellationToken)
    {
        RefreshPeers();
        if (runtime.RunningOf(record.Id) is not { } running)
        {
            return;
        }

        var publicNic = runtime.Find(record.Id)?.PublicNic;
        if (NetworksOf(record).Count == 0)
        {
            // Disconnected from its last bridge network: off the segment, and eth0 without addresses.
            fabric?.Leave(record.Id);
        }
        else
        {
            fabric?.Join(BridgePortOf(record));
        }

        var spec = GuestNetworkOf(record, publicNic) ?? new NetworkSpec(record.MacAddress, [], publicNic?.Address, null, null);
        await running.RequestAsync(FrameType.Network, Payloads.Json(spec, InteractionJson.Default.NetworkSpec), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The host ports the container gets for this run: its <c>-p</c> bindings and, with <c>-P</c>,
    /// a free port for each exposed port. A port another process holds fails the start as on dockerd.
    /// </summary>
    public static List<PublishedPort> ResolvePorts(ContainerRecord record)
    {
        var config = record.Config;
        var ports = new List<PublishedPort>();
        foreach (var binding in config.PortBindings)
        {
            var (first, last, protocol) = PortNotation.Parse(binding.ContainerPort);
            var (hostFirst, hostLast) = PortNotation.HostRange(binding.HostPort);
            var hostIp = binding.HostIp.Length > 0 ? binding.HostIp : "0.0.0.0";
            for (var port = first; port <= last; port++)
            {
                int hostPort;
                if (hostFirst == 0)
                {
                    hostPort = HostPorts.PickFree(protocol, hostIp, Taken(ports, protocol));
                }
                else if (last > first)
                {
                    hostPort = hostLast - hostFirst == last - first ? hostFirst + (port - first) : throw PortLayerException.InvalidParameter($"invalid ranges specified for container and host ports: {binding.ContainerPort} and {binding.HostPort}");
                }
                else
                {
                    hostPort = Enumerable.Range(hostFirst, hostLast - hostFirst + 1).FirstOrDefault(p => HostPorts.IsFree(protocol, hostIp, p) && ports.All(q => q.HostPort != p || q.Protocol != protocol));
                    if (hostPort == 0)
                    {
                        throw Allocated(record, hostIp, hostFirst);
                    }
                }

                if (!HostPorts.IsFree(protocol, hostIp, hostPort) || ports.Any(p => p.HostPort == hostPort && p.Protocol == protocol))
                {
                    throw Allocated(record, hostIp, hostPort);
                }

                ports.Add(new PublishedPort(protocol, port, hostIp, hostPort));
            }
        }

        if (config.PublishAllPorts)
        {
            foreach (var exposed in config.ExposedPorts)
            {
                var (first, last, protocol) = PortNotation.Parse(exposed);
                for (var port = first; port <= last; port++)
                {
                    if (!ports.Any(p => p.ContainerPort == port && p.Protocol == protocol))
                    {
                        ports.Add(new PublishedPort(protocol, port, "0.0.0.0", HostPorts.PickFree(protocol, "0.0.0.0", Taken(ports, protocol))));
                    }
                }
            }
        }

        return ports;
    }

    private static int[] Taken(List<PublishedPort> ports, string protocol) =>
        [.. ports.Where(p => p.Protocol == protocol).Select(p => p.HostPort)];

    private static PortLayerException Allocated(ContainerRecord record, string hostIp, int hostPort) =>
        new(ErrorKind.System, $"driver failed programming external connectivity on endpoint {record.Name} ({record.Id}): Bind for {hostIp}:{hostPort} failed: port is already allocated");

    /// <summary>How the ContainerVM is wired; null for a container on the <c>none</c> network.</summary>
    public VmNetworkSpec? VmNetworkOf(ContainerRecord record)
    {
        var networks = NetworksOf(record);
        if (networks.Count == 0)
        {
            return null;
        }

        var bridges = networks.Where(n => !IsPortGroup(n.Network)).ToList();
        return new VmNetworkSpec(
            record.MacAddress,
            Outbound: bridges.Any(n => !n.Network.Internal),
            [.. record.Ports.Select(p => new PortForward(p.Protocol, p.HostIp, p.HostPort, p.ContainerPort))])
        {
            OnBridge = bridges.Count > 0,
            PortGroups = [.. networks.Where(n => IsPortGroup(n.Network)).Select(n => new PortGroupNic(n.Network.Options[ContainerNetworkConfig.PortGroupOption], PortGroupMac(record, n.Network)))],
        };
    }

    private static bool IsPortGroup(NetworkRecord network) => network.Driver == ContainerNetworkConfig.Driver;

    /// <summary>A MAC in VMware's range for manual MACs, from the container and the network.</summary>
    private static string PortGroupMac(ContainerRecord record, NetworkRecord network) => VmwareMacs.Derive(record.Id + network.Id);

    /// <summary>What the tether is told about its NICs; null leaves the guest with loopback only.</summary>
    public NetworkSpec? GuestNetworkOf(ContainerRecord record, PublicNic? publicNic)
    {
        var networks = NetworksOf(record);
        if (networks.Count == 0)
        {
            return null;
        }

        // The first network is the container's way out, as on dockerd: a port group's own gateway, or the public NIC.
        var bridges = networks.Where(n => !IsPortGroup(n.Network)).ToList();
        var viaPortGroup = IsPortGroup(networks[0].Network);
        var outbound = bridges.Any(n => !n.Network.Internal);
        return new NetworkSpec(
            record.MacAddress,
            [.. bridges.Select(n => $"{n.Endpoint.IpAddress}/{n.Endpoint.PrefixLength}"), .. bridges.SelectMany(n => n.Endpoint.LinkLocalIps).Distinct().Select(a => $"{a}/16")],
            publicNic?.Address,
            outbound && !viaPortGroup ? publicNic?.Gateway : null,
            networks[0].Endpoint.IpAddress)
        {
            PublicMac = publicNic?.Mac,
            BridgeIpv6Addresses = [.. bridges.Where(n => n.Endpoint.Ipv6Address.Length > 0).Select(n => $"{n.Endpoint.Ipv6Address}/{n.Endpoint.Ipv6PrefixLength}")],
            Nics = [.. networks.Where(n => IsPortGroup(n.Network)).Select(n => new NicSpec(
                PortGroupMac(record, n.Network),
                $"{n.Endpoint.IpAddress}/{n.Endpoint.PrefixLength}",
                viaPortGroup && n.Network.Id == networks[0].Network.Id ? n.Network.Gateway : null))],
        };
    }

    /// <summary>
    /// The nameservers: <c>--dns</c> if given; else the fabric's resolver on the first network's
    /// gateway, which answers container names (user-defined networks, links) and asks the host's
    /// resolver the rest, so a later <c>network connect</c> needs no new resolv.conf; else the public NIC's.
    /// </summary>
    public IReadOnlyList<string> NameserversOf(ContainerRecord record, PublicNic? publicNic)
    {
        if (record.Config.Dns.Count > 0)
        {
            return record.Config.Dns;
        }

        var networks = NetworksOf(record);
        if (networks.Count > 0 && IsPortGroup(networks[0].Network))
        {
            return [.. networks[0].Network.Options.GetValueOrDefault("dns", "").Split(',', StringSplitOptions.RemoveEmptyEntries)];
        }

        return fabric is not null && networks.Count > 0 ? [networks[0].Endpoint.Gateway] : publicNic?.Nameservers ?? [];
    }

    /// <summary>The /etc/hosts lines for <c>--link</c>s: the linked container's address under its name and alias.</summary>
    public IReadOnlyList<string> LinkHostsOf(ContainerRecord record)
    {
        var lines = new List<string>();
        foreach (var (target, address, alias) in LinkedOf(record))
        {
            lines.Add($"{address}\t{string.Join(' ', new[] { alias, target.Name }.Distinct())}");
        }

        return lines;
    }

    /// <summary>The containers the <c>--link</c>s name that have an address, with the alias each is linked as.</summary>
    private IEnumerable<(ContainerRecord Target, string Address, string Alias)> LinkedOf(ContainerRecord record)
    {
        foreach (var link in record.Networks.Values.SelectMany(e => e.Links).Distinct())
        {
            var parts = link.Split(':');
            var target = containers.List().FirstOrDefault(c => c.Name == parts[0] || c.Id == parts[0]);
            if (target?.Networks.Values.FirstOrDefault(e => e.IpAddress.Length > 0) is { } endpoint)
            {
                yield return (target, endpoint.IpAddress, parts[^1]);
            }
        }
    }

    /// <summary>
    /// The variables a legacy <c>--link</c> gives (moby's daemon/links): <c>ALIAS_NAME</c>, the
    /// linked container's exposed ports as <c>ALIAS_PORT_80_TCP...</c>, and its environment as
    /// <c>ALIAS_ENV_*</c>. The container's own variables come after them and win.
    /// </summary>
    public List<string> LinkEnvironmentOf(ContainerRecord record)
    {
        var variables = new List<string>();
        foreach (var (target, address, linkAlias) in LinkedOf(record))
        {
            var alias = linkAlias.ToUpperInvariant().Replace('-', '_');
            variables.Add($"{alias}_NAME=/{record.Name}/{linkAlias}");
            var ports = target.Config.ExposedPorts
                .Select(p => p.Split('/'))
                .Where(p => int.TryParse(p[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
                .Select(p => (Port: int.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), Protocol: p.Length > 1 ? p[1] : "tcp"))
                .OrderBy(p => p.Port).ThenBy(p => p.Protocol, StringComparer.Ordinal)
                .ToList();
            if (ports.Count > 0)
            {
                variables.Add($"{alias}_PORT={ports[0].Protocol}://{address}:{ports[0].Port}");
            }

            foreach (var (port, protocol) in ports)
            {
                var prefix = $"{alias}_PORT_{port}_{protocol.ToUpperInvariant()}";
                variables.Add($"{prefix}={protocol}://{address}:{port}");
                variables.Add($"{prefix}_ADDR={address}");
                variables.Add($"{prefix}_PORT={port}");
                variables.Add($"{prefix}_PROTO={protocol}");
            }

            foreach (var variable in target.Config.Env.Where(v => v.Contains('=', StringComparison.Ordinal)))
            {
                var name = variable[..variable.IndexOf('=', StringComparison.Ordinal)];
                if (name is not ("HOME" or "PATH"))
                {
                    variables.Add($"{alias}_ENV_{variable}");
                }
            }
        }

        return variables;
    }

    /// <summary>
    /// <c>docker rm --link parent/alias</c>: the parent forgets the link (its /etc/hosts line and
    /// variables go at its next start); the linked container is untouched.
    /// </summary>
    public void RemoveLink(string parentAndAlias)
    {
        var slash = parentAndAlias.TrimStart('/').LastIndexOf('/');
        var (parentName, alias) = slash > 0 ? (parentAndAlias.TrimStart('/')[..slash], parentAndAlias.TrimStart('/')[(slash + 1)..]) : ("", "");
        var parent = parentName.Length > 0 ? containers.List().FirstOrDefault(c => c.Name == parentName) : null;
        bool Named(string link) => link.Split(':')[^1] == alias;
        if (parent is null || !parent.Networks.Values.Any(e => e.Links.Any(Named)))
        {
            throw PortLayerException.NotFound($"Could not find container for entity id {parentAndAlias}");
        }

        containers.Change(
            parent.Id,
            r => r with
            {
                Config = r.Config with { Links = [.. r.Config.Links.Where(l => !Named(l))] },
                Networks = r.Networks.ToDictionary(n => n.Key, n => n.Value with { Links = [.. n.Value.Links.Where(l => !Named(l))] }),
            },
            null);
    }

    /// <summary>
    /// Where no DNS on the bridge answers for container names (vSphere: the endpoint is not on the
    /// bridge port group), every running container is told its peers again once they changed (a
    /// start, a connect or disconnect, a removal), in the background, one pass at a time; a pass
    /// asked for while one runs follows it, and a container whose peers are what it has is not asked.
    /// </summary>
    public void RefreshPeers()
    {
        if (fabric is not null)
        {
            return;
        }

        Interlocked.Exchange(ref _peersWanted, 1);
        _ = Task.Run(RefreshPeersAsync);
    }

    private async Task RefreshPeersAsync()
    {
        if (Interlocked.CompareExchange(ref _refreshingPeers, 1, 0) != 0)
        {
            // The pass under way sees the request when it ends.
            return;
        }

        try
        {
            while (Interlocked.Exchange(ref _peersWanted, 0) == 1)
            {
                foreach (var record in containers.List().Where(c => c.Status.IsRunning))
                {
                    // Not before the start has handed over its spec (it carries the peers of then) and settled.
                    if (runtime.Find(record.Id) is not { Running: { TetherVersion: >= TetherProtocol.RelaysPorts, StartSettled.Task.IsCompleted: true } running } state)
                    {
                        continue;
                    }

                    var peers = PeerHostsOf(record);
                    if (state.PeerHosts is { } told && told.SequenceEqual(peers))
                    {
                        continue;
                    }

                    try
                    {
                        // A channel whose writes are stuck must not hold every other container's peers up.
                        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                        await running.RequestAsync(FrameType.PeerHosts, Payloads.Json(new PeerHostsUpdate(peers), InteractionJson.Default.PeerHostsUpdate), limit.Token).ConfigureAwait(false);
                        state.PeerHosts = peers;
                    }
                    catch (Exception ex) when (ex is PortLayerException or IOException or ObjectDisposedException or OperationCanceledException)
                    {
                        // It stopped meanwhile, or did not answer: its next start writes its peers afresh.
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The catalog or networks changed under the pass: the next change asks for a new one.
        }
        finally
        {
            Volatile.Write(ref _refreshingPeers, 0);
        }

        if (Volatile.Read(ref _peersWanted) == 1)
        {
            // Asked for after the last look and before the release: no pass would see it.
            _ = Task.Run(RefreshPeersAsync);
        }
    }

    /// <summary>
    /// Without a bridge fabric (vSphere: the bridge is a port group, with no resolver on it), the
    /// names of the containers on the user networks this one shares, as /etc/hosts lines.
    /// </summary>
    public List<string> PeerHostsOf(ContainerRecord record)
    {
        if (fabric is not null)
        {
            return [];
        }

        var shared = NetworksOf(record).Where(n => n.Network.Name != NetworkService.DefaultBridge).Select(n => n.Network.Id).ToHashSet();
        return [.. containers.List()
            .Where(c => c.Id != record.Id)
            .SelectMany(c => c.Networks.Values.Where(e => shared.Contains(e.NetworkId) && e.IpAddress.Length > 0).Select(e => (Container: c, Endpoint: e)))
            .Select(p => $"{p.Endpoint.IpAddress}\t{string.Join(' ', new[] { p.Container.Name }.Concat(p.Endpoint.Aliases).Append(p.Container.Id[..12]).Distinct())}")
            .Distinct()];
    }

    /// <summary>Puts a container that has bridge addresses on the fabric (a start, a reattach after the endpoint restarted).</summary>
    public void JoinBridge(ContainerRecord record)
    {
        if (record.Networks.Values.Any(e => e.IpAddress.Length > 0))
        {
            fabric?.Join(BridgePortOf(record));
        }
    }

    /// <summary>Takes the container off the fabric: its run ended, or it is removed.</summary>
    public void LeaveBridge(string id) => fabric?.Leave(id);

    /// <summary>
    /// Listens on the container's published ports where the backend does not (a start, a reattach
    /// after the endpoint restarted); a port another process took meanwhile fails as on dockerd.
    /// </summary>
    public void Publish(ContainerRecord record, RunningContainer run) => relays?.Open(record, run);

    /// <summary>Stops listening on the container's published ports: its run ended, or it is removed.</summary>
    public void Unpublish(string id) => relays?.Close(id);

    private BridgePort BridgePortOf(ContainerRecord record) =>
        new(record.Id, record.MacAddress, [.. NetworksOf(record).Where(n => !IsPortGroup(n.Network)).SelectMany(n => BridgeAddressesOf(n.Network, n.Endpoint))]);

    private static IEnumerable<BridgeAddress> BridgeAddressesOf(NetworkRecord network, NetworkEndpoint endpoint)
    {
        yield return new BridgeAddress(network.Id, IPAddress.Parse(endpoint.IpAddress), endpoint.PrefixLength, IPAddress.Parse(endpoint.Gateway));
        if (endpoint.Ipv6Address.Length > 0)
        {
            yield return new BridgeAddress(network.Id, IPAddress.Parse(endpoint.Ipv6Address), endpoint.Ipv6PrefixLength, IPAddress.Parse(endpoint.Ipv6Gateway));
        }
    }

    /// <summary>The container's networks with addresses (bridges and port groups), in the order it joined them.</summary>
    private List<(NetworkRecord Network, NetworkEndpoint Endpoint)> NetworksOf(ContainerRecord record) =>
        [.. record.Networks.Values
            .Where(e => e.IpAddress.Length > 0)
            .Select(e => (Network: networkService.Find(e.NetworkId), Endpoint: e))
            .Where(n => n.Network is not null)
            .Select(n => (n.Network!, n.Endpoint))];
}
