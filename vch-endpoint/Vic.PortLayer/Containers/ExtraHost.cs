using System.Net;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Containers;

/// <summary>
/// <c>--add-host name:ip</c> as Docker takes it (the address may be IPv6, or <c>host-gateway</c>
/// for the machine the container runs on) and as /etc/hosts needs it: the address first.
/// </summary>
public static class ExtraHost
{
    public const string HostGateway = "host-gateway";

    /// <summary>Refuses what dockerd refuses: no name, or an address that is neither an IP nor host-gateway.</summary>
    public static void Validate(string entry)
    {
        var (name, address) = Split(entry);
        if (name.Length == 0 || (address != HostGateway && !IsAddress(address.Trim('[', ']'))))
        {
            throw PortLayerException.InvalidParameter($"invalid IP address in add-host: \"{address}\"");
        }
    }

    /// <summary>The /etc/hosts line; <paramref name="hostGateway"/> stands in for host-gateway (the container's way out to its host).</summary>
    public static string HostsLine(string entry, string? hostGateway)
    {
        var (name, address) = Split(entry);
        if (address == HostGateway)
        {
            address = hostGateway ?? "127.0.0.1";
        }

        return $"{address.Trim('[', ']')}\t{name}";
    }

    /// <summary>A full IPv4 dotted quad or an IPv6 address: IPAddress alone also takes "1.2.3" and "5".</summary>
    private static bool IsAddress(string text) =>
        IPAddress.TryParse(text, out var address)
        && (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 || text.Split('.').Length == 4);

    private static (string Name, string Address) Split(string entry)
    {
        // name:ip, where ip may hold colons (IPv6); Docker 25+ also takes name=ip.
        var separator = entry.IndexOfAny([':', '=']);
        return separator < 0 ? (entry, "") : (entry[..separator], entry[(separator + 1)..]);
    }
}
