using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Networks;

/// <summary>An IPv6 prefix such as <c>2001:db8:1::/64</c>, normalised to its network address.</summary>
public readonly record struct Ipv6Subnet(UInt128 Network, int PrefixLength)
{
    public UInt128 Mask => PrefixLength == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - PrefixLength);

    public UInt128 Last => Network | ~Mask;

    /// <param name="what">How the error names the value: subnet, ip range.</param>
    public static Ipv6Subnet Parse(string cidr, string what = "subnet")
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var address) || address.AddressFamily != AddressFamily.InterNetworkV6
            || !int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 1 or > 126)
        {
            throw PortLayerException.InvalidParameter($"invalid {what} {cidr}: an IPv6 prefix such as 2001:db8:1::/64 is needed (prefix length 1 to 126)");
        }

        var mask = UInt128.MaxValue << (128 - prefix);
        return new Ipv6Subnet(ToUInt128(address) & mask, prefix);
    }

    /// <summary>Whether <paramref name="cidr"/> is written as an IPv6 prefix (a colon in its address).</summary>
    public static bool IsIpv6(string cidr) => cidr.Contains(':', StringComparison.Ordinal);

    public bool Contains(UInt128 address) => (address & Mask) == Network;

    public bool Overlaps(Ipv6Subnet other) => Contains(other.Network) || other.Contains(Network);

    /// <summary>The first address after the network's: the gateway's, by Docker's convention.</summary>
    public UInt128 FirstHost => Network + 1;

    public override string ToString() => $"{ToAddress(Network)}/{PrefixLength}";

    public static UInt128 ToUInt128(IPAddress address) => BinaryPrimitives.ReadUInt128BigEndian(address.GetAddressBytes());

    public static IPAddress ToAddress(UInt128 value)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public static IPAddress ParseAddress(string text, string what)
    {
        return IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6
            ? address
            : throw PortLayerException.InvalidParameter($"invalid {what} {text}: an IPv6 address is needed");
    }
}
