using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Vic.PortLayer.Networks;

namespace Vic.Machine;

/// <summary>
/// The appliance's static address on the public port group (VIC's <c>--public-network-ip</c>),
/// routed through the port group's gateway (<c>--public-network-gateway</c>) and resolving names
/// with its nameservers (<c>--public-network-dns</c>). Without it the appliance takes DHCP.
/// </summary>
public sealed record ApplianceAddress(IPAddress Address, int PrefixLength, IPAddress? Gateway, IReadOnlyList<IPAddress> Nameservers)
{
    /// <summary>The address with its prefix, as given: <c>10.0.0.5/24</c>.</summary>
    public override string ToString() => $"{Address}/{PrefixLength}";

    /// <summary>
    /// The settings' static address, or null when they give none. <c>IP/PREFIX</c>, or a bare IP
    /// whose prefix is the gateway's; the gateway must be in its subnet, and when the port group
    /// also addresses containers (a gateway is given) their range must leave it out.
    /// </summary>
    /// <param name="forCreate">Nameservers are asked for of a new VCH only: a recorded one is managed as it was made.</param>
    public static ApplianceAddress? Of(VchSettings settings, bool forCreate = true)
    {
        if (settings.PublicNetworkIp is not { } given)
        {
            return null;
        }

        IPAddress? gateway = null;
        int? gatewayPrefix = null;
        if (settings.PublicNetworkGateway is { } gatewayText)
        {
            (gateway, gatewayPrefix) = ParseAddress(gatewayText, "--public-network-gateway");
        }

        var (address, prefix) = ParseAddress(given, "--public-network-ip");
        var prefixLength = prefix ?? gatewayPrefix
            ?? throw new MachineException($"--public-network-ip '{given}': IP/PREFIX (e.g. 10.0.0.5/24), or give the prefix with --public-network-gateway GATEWAY/PREFIX");
        var subnet = SubnetOf(address, prefixLength);
        if (Ipv4Subnet.ToUInt(address) is var value && (value == subnet.Network || value == subnet.Broadcast))
        {
            throw new MachineException($"--public-network-ip '{given}': that is the subnet's network or broadcast address, not one an appliance can hold");
        }

        if (gateway is not null)
        {
            if (!subnet.Contains(gateway))
            {
                throw new MachineException($"--public-network-gateway '{settings.PublicNetworkGateway}' is not in the appliance's subnet {subnet} (--public-network-ip '{given}')");
            }

            if (gateway.Equals(address))
            {
                throw new MachineException($"--public-network-ip '{given}' is the gateway's own address");
            }

            // With a gateway the endpoint gives containers public addresses: the lowest free ones of
            // the range, or of the whole subnet without one. The appliance's must not be among them.
            var range = settings.PublicNetworkIpRange is { } rangeText ? ParseNetwork(rangeText) : subnet;
            if (range.Contains(address))
            {
                throw new MachineException($"--public-network-ip '{given}' is among the containers' public addresses ({(settings.PublicNetworkIpRange is null ? $"the whole subnet {subnet}: give --public-network-ip-range a CIDR that leaves it out" : $"--public-network-ip-range {range}")})");
            }
        }

        var nameservers = (settings.PublicNetworkDns ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => IPAddress.TryParse(n, out var server) ? server : throw new MachineException($"--public-network-dns '{n}' is not an IP address"))
            .ToList();
        if (nameservers.Count == 0 && forCreate)
        {
            // DHCP would have given it nameservers; without any it could pull from no registry by name.
            throw new MachineException($"--public-network-ip '{given}': give --public-network-dns too: the appliance resolves registries' names with it");
        }

        return new ApplianceAddress(address, prefixLength, gateway, nameservers);
    }

    /// <summary>
    /// The appliance's <c>network.sh</c>, which its /init runs instead of DHCP: the address on its
    /// NIC (the only one: the appliance has a NIC on the public port group alone), the default
    /// route, and resolv.conf.
    /// </summary>
    public string NetworkScript()
    {
        var mask = Ipv4Subnet.ToAddress(SubnetOf(Address, PrefixLength).Mask);
        var script = new StringBuilder();
        script.Append(CultureInfo.InvariantCulture, $"""
            # vic-machine: the appliance's static address on the public port group
            nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
            ifconfig "$nic" {Address} netmask {mask} up

            """);
        if (Gateway is not null)
        {
            script.Append(CultureInfo.InvariantCulture, $"route add default gw {Gateway}\n");
        }

        script.Append(": >/etc/resolv.conf\n");
        foreach (var server in Nameservers)
        {
            script.Append(CultureInfo.InvariantCulture, $"echo 'nameserver {server}' >>/etc/resolv.conf\n");
        }

        script.Append(CultureInfo.InvariantCulture, $"echo \"vic-appliance: $nic {this} (static){(Gateway is null ? "" : $", gateway {Gateway}")}\"\n");
        return script.ToString();
    }

    private static (IPAddress Address, int? Prefix) ParseAddress(string text, string option)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        // Four parts: IPAddress.TryParse takes "10.1" for 10.0.0.1, which no admin means.
        if (addressText.Count(c => c == '.') != 3 || !IPAddress.TryParse(addressText, out var address) || address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new MachineException($"{option} '{text}': an IPv4 address, optionally /PREFIX");
        }

        if (slash < 0)
        {
            return (address, null);
        }

        return int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) && prefix is >= 1 and <= 30
            ? (address, prefix)
            : throw new MachineException($"{option} '{text}': the prefix must be 1-30");
    }

    private static Ipv4Subnet ParseNetwork(string text)
    {
        var (address, prefix) = ParseAddress(text, "--public-network-ip-range");
        return prefix is { } length
            ? SubnetOf(address, length)
            : throw new MachineException($"--public-network-ip-range '{text}': a CIDR, e.g. 10.0.0.128/25");
    }

    /// <summary>The subnet an address and prefix name, as the endpoint reads its public network's.</summary>
    private static Ipv4Subnet SubnetOf(IPAddress address, int prefix) => Ipv4Subnet.Parse($"{address}/{prefix}");
}
