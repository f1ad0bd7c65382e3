using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Networks;

/// <summary>An IPv4 prefix such as <c>172.18.0.0/16</c>, normalised to its network address.</summary>
public readonly record struct Ipv4Subnet(uint Network, int PrefixLength)
{
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public uint Broadcast => Network | ~Mask;

    public static Ipv4Subnet Parse(string cidr, string what = "subnet")
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var address) || address.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix is < 1 or > 30)
        {
            throw PortLayerException.InvalidParameter($"invalid {what} {cidr}: an IPv4 prefix such as 172.18.0.0/16 is needed (prefix length 1 to 30)");
        }

        var value = ToUInt(address);
        var mask = uint.MaxValue << (32 - prefix);
        return new Ipv4Subnet(value & mask, prefix);
    }

    public bool Contains(uint address) => (address & Mask) == Network;

    public bool Contains(IPAddress address) => address.AddressFamily == AddressFamily.InterNetwork && Contains(ToUInt(address));

    public bool Overlaps(Ipv4Subnet other) => Contains(other.Network) || other.Contains(Network);

    /// <summary>The first address that a host may use: the gateway's, by Docker's convention.</summary>
    public uint FirstHost => Network + 1;

    public override string ToString() => $"{ToAddress(Network)}/{PrefixLength}";

    public static uint ToUInt(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    public static IPAddress ToAddress(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public static IPAddress ParseAddress(string text, string what)
    {
        return IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetwork
            ? address
            : throw PortLayerException.InvalidParameter($"invalid {what} {text}: an IPv4 address is needed");
    }
}
