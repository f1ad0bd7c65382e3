using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// Addresses the guest's NICs as the spec says, with the classic interface ioctls (no netlink, no
/// tools in the VM): eth0 is the bridge NIC, one address per bridge network (eth0, eth0:1, ...);
/// eth1 is the public NIC with the default route. Applying again converges: connect and
/// disconnect while the container runs send a new spec.
/// </summary>
internal static class GuestNetwork
{
    public const string BridgeNic = "eth0";
    public const string PublicNic = "eth1";

    private const uint SiocGIfFlags = 0x8913;
    private const uint SiocSIfFlags = 0x8914;
    private const uint SiocSIfAddr = 0x8916;
    private const uint SiocSIfNetmask = 0x891C;
    private const uint SiocDIfAddr = 0x8936;
    private const uint SiocSIfHwAddr = 0x8924;
    private const uint SiocAddRt = 0x890B;
    private const short IffUp = 0x1;
    private const ushort RtfUp = 0x1;
    private const ushort RtfGateway = 0x2;
    private const int MaxAliases = 16;

    public static void Apply(NetworkSpec spec)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var fd = (int)socket.Handle;

        // NICs on port groups are found by MAC first: without a bridge NIC, one of them is eth0.
        var portGroupNics = spec.Nics.Select(n => (Spec: n, Name: InterfaceWithMac(n.Mac) ?? throw new IOException($"no NIC has the MAC {n.Mac}"))).ToList();
        if (portGroupNics.All(n => n.Name != BridgeNic))
        {
            ApplyBridge(fd, spec);
        }

        ApplyPublic(fd, spec);
        if (portGroupNics.All(n => n.Name != BridgeNic))
        {
            ApplyBridgeIpv6(spec.BridgeIpv6Addresses);
        }

        foreach (var (nic, name) in portGroupNics)
        {
            var (address, prefix) = ParseCidr(nic.Address);
            SetAddress(fd, name, address, prefix);
            SetUp(fd, name, true);
            if (nic.Gateway is { } gateway)
            {
                AddDefaultRoute(fd, IPAddress.Parse(gateway));
            }
        }
    }

    /// <summary>The interface whose hardware address is <paramref name="mac"/>, from sysfs; null when none is.</summary>
    internal static string? InterfaceWithMac(string mac, string sysfs = "/sys/class/net") =>
        Directory.Exists(sysfs)
            ? Directory.EnumerateDirectories(sysfs)
                .FirstOrDefault(d => File.Exists(Path.Combine(d, "address")) && string.Equals(File.ReadAllText(Path.Combine(d, "address")).Trim(), mac, StringComparison.OrdinalIgnoreCase)) is { } found ? Path.GetFileName(found) : null
            : null;

    private static void ApplyBridge(int fd, NetworkSpec spec)
    {
        SetMac(fd, BridgeNic, spec.BridgeMac);
        for (var i = 0; i < MaxAliases; i++)
        {
            var name = i == 0 ? BridgeNic : $"{BridgeNic}:{i}";
            if (i < spec.BridgeAddresses.Count)
            {
                var (address, prefix) = ParseCidr(spec.BridgeAddresses[i]);
                SetAddress(fd, name, address, prefix);
                SetUp(fd, name, true);
            }
            else if (i > 0)
            {
                // Taking an alias down removes its address; one that never existed is no error.
                TrySetDown(fd, name);
            }
        }

        if (spec.BridgeAddresses.Count == 0)
        {
            // No network left: 0.0.0.0 removes the primary address (down alone would keep it).
            var request = Request(BridgeNic);
            WriteInet(request.AsSpan(16), IPAddress.Any);
            Call(fd, SiocSIfAddr, request, $"clear the address of {BridgeNic}");
            SetUp(fd, BridgeNic, false);
        }
    }

    /// <summary>
    /// eth0's global IPv6 addresses become exactly <paramref name="addresses"/>. Duplicate address
    /// detection is off: the VCH hands the addresses out, and its bridge passes no frame from the
    /// unspecified address DAD would send.
    /// </summary>
    private static void ApplyBridgeIpv6(IReadOnlyList<string> addresses)
    {
        var wanted = addresses.Select(ParseCidr).ToList();
        var present = GlobalIpv6Addresses(BridgeNic);
        if (wanted.Count == 0 && present.Count == 0)
        {
            return;
        }

        File.WriteAllText($"/proc/sys/net/ipv6/conf/{BridgeNic}/accept_dad", "0");
        var index = int.Parse(File.ReadAllText($"/sys/class/net/{BridgeNic}/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        var fd = (int)socket.Handle;
        foreach (var stale in present.Where(p => !wanted.Contains(p)))
        {
            Call(fd, SiocDIfAddr, Ipv6Request(stale.Address, stale.Prefix, index), $"remove {stale.Address} from {BridgeNic}");
        }

        foreach (var fresh in wanted.Where(w => !present.Contains(w)))
        {
            Call(fd, SiocSIfAddr, Ipv6Request(fresh.Address, fresh.Prefix, index), $"add {fresh.Address} to {BridgeNic}");
        }
    }

    /// <summary>struct in6_ifreq: the address (16 bytes), the prefix length (u32), the interface index (int).</summary>
    private static byte[] Ipv6Request(IPAddress address, int prefix, int index)
    {
        var request = new byte[24];
        address.GetAddressBytes().CopyTo(request, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(16), (uint)prefix);
        BinaryPrimitives.WriteInt32LittleEndian(request.AsSpan(20), index);
        return request;
    }

    /// <summary>The interface's global-scope IPv6 addresses, from /proc/net/if_inet6 (address, index, prefix, scope, flags, name).</summary>
    internal static List<(IPAddress Address, int Prefix)> GlobalIpv6Addresses(string name, string table = "/proc/net/if_inet6") =>
        !File.Exists(table) ? [] : [.. File.ReadLines(table)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length == 6 && f[5] == name && f[3] == "00")
            .Select(f => (new IPAddress(Convert.FromHexString(f[0])), Convert.ToInt32(f[2], 16)))];

    private static void ApplyPublic(int fd, NetworkSpec spec)
    {
        // An instant clone on vSphere has its parent's NIC until told the MAC its own NIC was given.
        if (spec.PublicMac is { } mac && !string.Equals(MacOf(PublicNic), mac, StringComparison.OrdinalIgnoreCase))
        {
            SetMac(fd, PublicNic, mac);
        }

        if (spec.PublicAddress is { } publicAddress)
        {
            var (address, prefix) = ParseCidr(publicAddress);
            SetAddress(fd, PublicNic, address, prefix);
            SetUp(fd, PublicNic, true);
            if (spec.PublicGateway is { } gateway)
            {
                AddDefaultRoute(fd, IPAddress.Parse(gateway));
            }
        }
    }

    private static (IPAddress Address, int Prefix) ParseCidr(string cidr)
    {
        var parts = cidr.Split('/');
        return (IPAddress.Parse(parts[0]), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>struct ifreq: the name in 16 bytes, then a 24-byte union.</summary>
    private static byte[] Request(string name)
    {
        var request = new byte[40];
        System.Text.Encoding.ASCII.GetBytes(name).CopyTo(request, 0);
        return request;
    }

    /// <summary>struct sockaddr_in at <paramref name="at"/>: family AF_INET, port 0, the address.</summary>
    private static void WriteInet(Span<byte> buffer, IPAddress address)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, 2);
        address.GetAddressBytes().CopyTo(buffer[4..]);
    }

    private static string? MacOf(string name, string sysfs = "/sys/class/net") =>
        File.Exists(Path.Combine(sysfs, name, "address")) ? File.ReadAllText(Path.Combine(sysfs, name, "address")).Trim() : null;

    private static void SetMac(int fd, string name, string mac)
    {
        var request = Request(name);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(16), 1); // ARPHRD_ETHER
        Convert.FromHexString(mac.Replace(":", "", StringComparison.Ordinal)).CopyTo(request, 18);
        Call(fd, SiocSIfHwAddr, request, $"set the MAC of {name}");
    }

    private static void SetAddress(int fd, string name, IPAddress address, int prefix)
    {
        var request = Request(name);
        WriteInet(request.AsSpan(16), address);
        Call(fd, SiocSIfAddr, request, $"set the address of {name}");
        request = Request(name);
        var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
        var maskBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(maskBytes, mask);
        WriteInet(request.AsSpan(16), new IPAddress(maskBytes));
        Call(fd, SiocSIfNetmask, request, $"set the netmask of {name}");
    }

    private static void SetUp(int fd, string name, bool up)
    {
        var request = Request(name);
        Call(fd, SiocGIfFlags, request, $"read the flags of {name}");
        var flags = BinaryPrimitives.ReadInt16LittleEndian(request.AsSpan(16));
        BinaryPrimitives.WriteInt16LittleEndian(request.AsSpan(16), up ? (short)(flags | IffUp) : (short)(flags & ~IffUp));
        Call(fd, SiocSIfFlags, request, $"bring {name} {(up ? "up" : "down")}");
    }

    private static unsafe void TrySetDown(int fd, string name)
    {
        var request = Request(name);
        fixed (byte* pointer = request)
        {
            if (Native.ioctl(fd, SiocGIfFlags, pointer) < 0)
            {
                return;
            }

            var flags = BinaryPrimitives.ReadInt16LittleEndian(request.AsSpan(16));
            BinaryPrimitives.WriteInt16LittleEndian(request.AsSpan(16), (short)(flags & ~IffUp));
            Native.ioctl(fd, SiocSIfFlags, pointer);
        }
    }

    /// <summary>
    /// struct rtentry as x86-64 lays it out: rt_dst at 8, rt_gateway at 24, rt_genmask at 40
    /// (sockaddrs of 16 bytes), rt_flags at 56; 120 bytes in all. An existing route is kept.
    /// </summary>
    private static unsafe void AddDefaultRoute(int fd, IPAddress gateway)
    {
        var route = new byte[120];
        WriteInet(route.AsSpan(8), IPAddress.Any);
        WriteInet(route.AsSpan(24), gateway);
        WriteInet(route.AsSpan(40), IPAddress.Any);
        BinaryPrimitives.WriteUInt16LittleEndian(route.AsSpan(56), RtfUp | RtfGateway);
        fixed (byte* pointer = route)
        {
            if (Native.ioctl(fd, SiocAddRt, pointer) < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != 17)
            {
                throw new IOException($"add the default route via {gateway}: {Native.LastError()}");
            }
        }
    }

    private static unsafe void Call(int fd, uint request, byte[] buffer, string what)
    {
        fixed (byte* pointer = buffer)
        {
            Native.Check(Native.ioctl(fd, request, pointer), what);
        }
    }
}
