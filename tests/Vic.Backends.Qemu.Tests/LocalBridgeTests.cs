using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Qemu.Bridge;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

namespace Vic.Backends.Qemu.Tests;

/// <summary>
/// The bridge switch with fake ContainerVMs: each is a Unix datagram socket where QEMU's dgram
/// netdev would be, sending and receiving whole Ethernet frames as QEMU does.
/// </summary>
public sealed class LocalBridgeTests : IDisposable
{
    private const string Net1 = "net1";
    private const string Net2 = "net2";
    private static readonly IPAddress Gateway1 = IPAddress.Parse("172.18.0.1");

    private readonly TempDirectory _dir = new("bridge");
    private readonly LocalBridge _bridge;
    private readonly FakeResolver _resolver = new();
    private readonly UdpClient _upstream = new(new IPEndPoint(IPAddress.Loopback, 0));

    public LocalBridgeTests()
    {
        _bridge = new LocalBridge(_dir.Combine("bridge.sock"), id => _dir.Combine(id + ".sock"), NullLogger.Instance, (IPEndPoint)_upstream.Client.LocalEndPoint!) { Resolver = _resolver };
    }

    public void Dispose()
    {
        _bridge.Dispose();
        _upstream.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void TheChecksumIsRfc1071s() // the worked example of an IPv4 header, checksum b861
    {
        var header = Convert.FromHexString("450000730000400040110000C0A80001C0A800C7");
        EthernetFrames.WriteChecksum(header, 10);
        Assert.Equal("B861", Convert.ToHexString(header, 10, 2));
    }

    [Fact]
    public async Task TheGatewayAnswersArpWithItsMac()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"));

        a.Send(Arp("02:42:00:00:00:0a", "172.18.0.10", "172.18.0.1"));
        var reply = await a.ReceiveAsync();

        Assert.Equal(
            "0242000000 0A 0256494300 01 0806 0001 0800 06 04 0002 025649430001 AC120001 02420000000A AC12000A".Replace(" ", "", StringComparison.Ordinal),
            Convert.ToHexString(reply!));
    }

    [Fact]
    public async Task FramesReachOnlyPortsThatShareANetworkWithTheSender()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"));
        using var b = Vm("b", "02:42:00:00:00:0b", (Net1, "172.18.0.11"), (Net2, "172.19.0.11"));
        using var c = Vm("c", "02:42:00:00:00:0c", (Net2, "172.19.0.12"));

        var ask = Arp("02:42:00:00:00:0a", "172.18.0.10", "172.18.0.11");
        a.Send(ask);
        Assert.Equal(ask, await b.ReceiveAsync());
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromMilliseconds(300)));

        var toB = Ipv4("02:42:00:00:00:0a", "02:42:00:00:00:0b", "172.18.0.10", "172.18.0.11");
        a.Send(toB);
        Assert.Equal(toB, await b.ReceiveAsync());

        // c is known to the switch, but on another network: its frame must not come through.
        a.Send(Ipv4("02:42:00:00:00:0a", "02:42:00:00:00:0c", "172.18.0.10", "172.19.0.12"));
        a.Send(Ipv4("02:42:00:00:00:0a", "02:42:00:00:00:0c", "172.18.0.10", "172.18.0.99"));
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromMilliseconds(300)));

        // A spoofed source address or an unknown MAC gets nowhere.
        a.Send(Ipv4("02:42:00:00:00:0a", "02:42:00:00:00:0b", "172.18.0.77", "172.18.0.11"));
        a.Send(Ipv4("02:42:00:00:00:ff", "02:42:00:00:00:0b", "172.18.0.10", "172.18.0.11"));
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromMilliseconds(300)));

        _bridge.Leave("b");
        a.Send(toB);
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Ipv6FramesPassOnlyFromAPortsOwnAddressToPortsOnItsNetwork()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"), (Net1, "2001:db8:1::a"));
        using var b = Vm("b", "02:42:00:00:00:0b", (Net1, "172.18.0.11"), (Net1, "2001:db8:1::b"));
        using var c = Vm("c", "02:42:00:00:00:0c", (Net2, "172.19.0.12"), (Net2, "2001:db8:2::c"));

        // Neighbour solicitation goes to a solicited-node multicast MAC: every port on the network gets it.
        var solicit = Ipv6("02:42:00:00:00:0a", "33:33:ff:00:00:0b", "2001:db8:1::a", "ff02::1:ff00:b");
        a.Send(solicit);
        Assert.Equal(solicit, await b.ReceiveAsync());
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromMilliseconds(300)));

        var toB = Ipv6("02:42:00:00:00:0a", "02:42:00:00:00:0b", "2001:db8:1::a", "2001:db8:1::b");
        a.Send(toB);
        Assert.Equal(toB, await b.ReceiveAsync());

        // From a link-local, unspecified or spoofed source, or to a port on another network: nowhere.
        a.Send(Ipv6("02:42:00:00:00:0a", "33:33:ff:00:00:0b", "fe80::42:ff:fe00:a", "ff02::1:ff00:b"));
        a.Send(Ipv6("02:42:00:00:00:0a", "33:33:ff:00:00:0b", "::", "ff02::1:ff00:b"));
        a.Send(Ipv6("02:42:00:00:00:0a", "02:42:00:00:00:0b", "2001:db8:1::77", "2001:db8:1::b"));
        a.Send(Ipv6("02:42:00:00:00:0a", "02:42:00:00:00:0c", "2001:db8:1::a", "2001:db8:2::c"));
        Assert.Null(await b.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Null(await c.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task TheGatewayAnswersPingAndDnsAskingTheResolverThenUpstream()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"));
        _resolver.Names[(Net1, "web")] = IPAddress.Parse("172.18.0.20");

        var ping = Ipv4("02:42:00:00:00:0a", "02:56:49:43:00:01", "172.18.0.10", "172.18.0.1", EthernetFrames.Icmp, Convert.FromHexString("0800F7FE00010000"));
        a.Send(ping);
        var pong = (await a.ReceiveAsync())!;
        Assert.Equal(0, pong[34]);
        Assert.Equal("AC120001AC12000A", Convert.ToHexString(pong, 26, 8));
        Assert.Equal(0, Sum(pong.AsSpan(34)));

        a.Send(Ipv4("02:42:00:00:00:0a", "02:56:49:43:00:01", "172.18.0.10", "172.18.0.1", EthernetFrames.Udp, Udp(40000, 53, Query(0x1234, "web"))));
        var answer = Payload((await a.ReceiveAsync())!);
        Assert.Equal(
            "1234 8580 0001 0001 0000 0000 03776562 00 0001 0001 C00C 0001 0001 00000000 0004 AC120014".Replace(" ", "", StringComparison.Ordinal),
            Convert.ToHexString(answer));

        var upstreamAnswer = _upstream.ReceiveAsync();
        a.Send(Ipv4("02:42:00:00:00:0a", "02:56:49:43:00:01", "172.18.0.10", "172.18.0.1", EthernetFrames.Udp, Udp(40001, 53, Query(0x4321, "example.org"))));
        var asked = await upstreamAnswer.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(Query(0x4321, "example.org"), asked.Buffer);
        var canned = Convert.FromHexString("4321818000010000000000000765786D706C65036F72670000010001");
        await _upstream.SendAsync(canned, asked.RemoteEndPoint);
        Assert.Equal(canned, Payload((await a.ReceiveAsync())!));
    }

    [Fact]
    public async Task AnAaaaQueryIsAnsweredWithTheNamesIpv6AddressAndNoDataWhenItHasNone()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"));
        _resolver.Names[(Net1, "web")] = IPAddress.Parse("172.18.0.20");
        _resolver.Ipv6Names[(Net1, "web")] = IPAddress.Parse("2001:db8:1::20");
        _resolver.Names[(Net1, "db")] = IPAddress.Parse("172.18.0.30");

        a.Send(Ipv4("02:42:00:00:00:0a", "02:56:49:43:00:01", "172.18.0.10", "172.18.0.1", EthernetFrames.Udp, Udp(40000, 53, Query(0x2222, "web", type: 28))));
        var web = Payload((await a.ReceiveAsync())!);
        a.Send(Ipv4("02:42:00:00:00:0a", "02:56:49:43:00:01", "172.18.0.10", "172.18.0.1", EthernetFrames.Udp, Udp(40001, 53, Query(0x3333, "db", type: 28))));
        var db = Payload((await a.ReceiveAsync())!);

        Assert.Equal(
            "2222 8580 0001 0001 0000 0000 03776562 00 001C 0001 C00C 001C 0001 00000000 0010 20010DB8000100000000000000000020".Replace(" ", "", StringComparison.Ordinal),
            Convert.ToHexString(web));
        Assert.Equal(
            "3333 8580 0001 0000 0000 0000 026462 00 001C 0001".Replace(" ", "", StringComparison.Ordinal),
            Convert.ToHexString(db));
    }

    [Fact]
    public async Task GarbageFromAGuestIsDroppedAndTheSwitchCarriesOn()
    {
        using var a = Vm("a", "02:42:00:00:00:0a", (Net1, "172.18.0.10"));
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var junk = new byte[random.Next(14, 120)];
            random.NextBytes(junk);
            Convert.FromHexString("02420000000A").CopyTo(junk, 6);
            junk[12] = 0x08;
            junk[13] = (byte)(i % 2 == 0 ? 0x00 : 0x06);
            a.Send(junk);
        }

        a.Send(Arp("02:42:00:00:00:0a", "172.18.0.10", "172.18.0.1"));
        byte[]? reply;
        do
        {
            reply = await a.ReceiveAsync();
        }
        while (reply is not null && reply.Length != 42);

        Assert.NotNull(reply);
    }

    private FakeVm Vm(string id, string mac, params (string Network, string Address)[] addresses)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(_dir.Combine(id + ".sock")));
        _bridge.Join(new BridgePort(id, mac, [.. addresses.Select(a => IPAddress.Parse(a.Address).AddressFamily == AddressFamily.InterNetworkV6
            ? new BridgeAddress(a.Network, IPAddress.Parse(a.Address), 64, IPAddress.Parse(a.Network == Net1 ? "2001:db8:1::1" : "2001:db8:2::1"))
            : new BridgeAddress(a.Network, IPAddress.Parse(a.Address), 16, a.Network == Net1 ? Gateway1 : IPAddress.Parse("172.19.0.1")))]));
        return new FakeVm(socket, new UnixDomainSocketEndPoint(_dir.Combine("bridge.sock")));
    }

    private static byte[] Arp(string mac, string from, string asked)
    {
        var frame = new byte[42];
        Array.Fill(frame, (byte)0xFF, 0, 6);
        EthernetFrames.ParseMac(mac).CopyTo(frame, 6);
        frame[12] = 0x08;
        frame[13] = 0x06;
        Convert.FromHexString("0001080006040001").CopyTo(frame, 14);
        EthernetFrames.ParseMac(mac).CopyTo(frame, 22);
        IPAddress.Parse(from).GetAddressBytes().CopyTo(frame, 28);
        IPAddress.Parse(asked).GetAddressBytes().CopyTo(frame, 38);
        return frame;
    }

    private static byte[] Ipv4(string fromMac, string toMac, string from, string to, byte protocol = 253, byte[]? payload = null)
    {
        payload ??= [1, 2, 3, 4];
        var frame = new byte[34 + payload.Length];
        EthernetFrames.ParseMac(toMac).CopyTo(frame, 0);
        EthernetFrames.ParseMac(fromMac).CopyTo(frame, 6);
        frame[12] = 0x08;
        frame[14] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), (ushort)(20 + payload.Length));
        frame[22] = 64;
        frame[23] = protocol;
        IPAddress.Parse(from).GetAddressBytes().CopyTo(frame, 26);
        IPAddress.Parse(to).GetAddressBytes().CopyTo(frame, 30);
        EthernetFrames.WriteChecksum(frame.AsSpan(14, 20), 10);
        payload.CopyTo(frame, 34);
        return frame;
    }

    /// <summary>An IPv6 frame: next header 59 (none) and a few bytes the switch carries unread.</summary>
    private static byte[] Ipv6(string fromMac, string toMac, string from, string to)
    {
        var frame = new byte[14 + 40 + 4];
        EthernetFrames.ParseMac(toMac).CopyTo(frame, 0);
        EthernetFrames.ParseMac(fromMac).CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD);
        frame[14] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(18), 4);
        frame[20] = 59;
        frame[21] = 64;
        IPAddress.Parse(from).GetAddressBytes().CopyTo(frame, 22);
        IPAddress.Parse(to).GetAddressBytes().CopyTo(frame, 38);
        return frame;
    }

    private static byte[] Udp(ushort from, ushort to, byte[] payload)
    {
        var udp = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, from);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), to);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        payload.CopyTo(udp, 8);
        return udp;
    }

    private static byte[] Query(ushort id, string name, ushort type = 1)
    {
        var query = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            query.Add((byte)label.Length);
            query.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        query.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        return [.. query];
    }

    private static byte[] Payload(byte[] frame) => frame[(14 + 20 + 8)..];

    private static int Sum(ReadOnlySpan<byte> data)
    {
        var copy = data.ToArray();
        var stored = BinaryPrimitives.ReadUInt16BigEndian(copy.AsSpan(2));
        EthernetFrames.WriteChecksum(copy, 2);
        return stored - BinaryPrimitives.ReadUInt16BigEndian(copy.AsSpan(2));
    }

    private sealed class FakeResolver : IBridgeResolver
    {
        public Dictionary<(string Network, string Name), IPAddress> Names { get; } = [];

        public Dictionary<(string Network, string Name), IPAddress> Ipv6Names { get; } = [];

        public ResolvedName? Resolve(string askingContainerId, string networkId, string name) =>
            Names.TryGetValue((networkId, name), out var address) ? new ResolvedName(address, Ipv6Names.GetValueOrDefault((networkId, name))) : null;
    }

    private sealed class FakeVm(Socket socket, EndPoint bridge) : IDisposable
    {
        public void Send(byte[] frame) => socket.SendTo(frame, bridge);

        public async Task<byte[]?> ReceiveAsync(TimeSpan? wait = null)
        {
            var buffer = new byte[2048];
            using var timeout = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(5));
            try
            {
                var length = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                return buffer[..length];
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        public void Dispose() => socket.Dispose();
    }
}
