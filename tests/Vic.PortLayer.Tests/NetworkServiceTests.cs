using System.Net;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

public sealed class NetworkServiceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TheVchStartsWithBridgeAndNoneAndKeepsThemAcrossARestart()
    {
        string bridgeId;
        using (var engine = Engine())
        {
            bridgeId = engine.Networks.Get("bridge").Id;
            Assert.Equal(("172.17.0.0/16", "172.17.0.1"), (engine.Networks.Get("bridge").Subnet, engine.Networks.Get("bridge").Gateway));
            Assert.Equal("null", engine.Networks.Get("none").Driver);
        }

        using var again = Engine();
        Assert.Equal(bridgeId, again.Networks.Get("bridge").Id);
        Assert.Equal(2, again.Networks.List().Count);
        Assert.Equal(bridgeId, again.Networks.Get(bridgeId[..6]).Id);
    }

    [Fact]
    public void SubnetsComeFromDockersPoolsAndMayNotOverlap()
    {
        using var engine = Engine();
        var first = engine.Networks.Create("a", null, null, null, null, false, false, null, null);
        var second = engine.Networks.Create("b", "bridge", null, null, null, false, false, null, null);
        var chosen = engine.Networks.Create("c", null, "10.9.0.0/24", "10.9.0.254", "10.9.0.128/26", true, false, null, null);

        Assert.Equal(("172.18.0.0/16", "172.18.0.1"), (first.Subnet, first.Gateway));
        Assert.Equal("172.19.0.0/16", second.Subnet);
        Assert.Equal(("10.9.0.0/24", "10.9.0.254", "10.9.0.128/26", true), (chosen.Subnet, chosen.Gateway, chosen.IpRange, chosen.Internal));
        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Create("d", null, "10.9.0.64/26", null, null, false, false, null, null)));
        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Create("e", null, "10.10.0.0/24", "10.11.0.1", null, false, false, null, null)));
        Assert.Equal(ErrorKind.Conflict, Refused(() => engine.Networks.Create("a", null, null, null, null, false, false, null, null)));
        Assert.Equal(ErrorKind.InvalidParameter, Refused(() => engine.Networks.Create("f", "overlay", null, null, null, false, false, null, null)));
        Assert.Equal(ErrorKind.InvalidParameter, Refused(() => engine.Networks.Create("g", null, "10.12.0.0", null, null, false, false, null, null)));
    }

    [Fact]
    public void AddressesAreHandedOutInTheRangeAndAnAskedForAddressIsHeld()
    {
        using var engine = Engine();
        engine.Networks.Create("net", null, "10.9.0.0/24", null, "10.9.0.8/30", false, false, null, null);
        var a = Create(engine, "ca", new ContainerConfig { NetworkMode = "net" });
        var b = Create(engine, "cb", new ContainerConfig { NetworkMode = "net" });
        var fixedOne = Create(engine, "cc", new ContainerConfig { NetworkMode = "net", EndpointRequests = new Dictionary<string, EndpointRequest> { ["net"] = new("10.9.0.200", ["db"]) } });

        Assert.Equal("10.9.0.8", a.Networks["net"].IpAddress);
        Assert.Equal("10.9.0.9", b.Networks["net"].IpAddress);
        Assert.Equal(("10.9.0.200", 24, "10.9.0.1"), (fixedOne.Networks["net"].IpAddress, fixedOne.Networks["net"].PrefixLength, fixedOne.Networks["net"].Gateway));
        Assert.Equal(ErrorKind.Conflict, Refused(() => Create(engine, "cd", new ContainerConfig { NetworkMode = "net", EndpointRequests = new Dictionary<string, EndpointRequest> { ["net"] = new("10.9.0.200") } })));
        Assert.Equal(ErrorKind.InvalidParameter, Refused(() => Create(engine, "ce", new ContainerConfig { NetworkMode = "net", EndpointRequests = new Dictionary<string, EndpointRequest> { ["net"] = new("10.8.0.5") } })));
        Create(engine, "cf", new ContainerConfig { NetworkMode = "net" });
        Create(engine, "cg", new ContainerConfig { NetworkMode = "net" });
        Assert.Equal(ErrorKind.Conflict, Refused(() => Create(engine, "ch", new ContainerConfig { NetworkMode = "net" })));
        Assert.Equal(ErrorKind.NotFound, Refused(() => Create(engine, "ci", new ContainerConfig { NetworkMode = "nosuch" })));
        Assert.Equal(ErrorKind.InvalidParameter, Refused(() => Create(engine, "cj", new ContainerConfig { NetworkMode = "host" })));
        Assert.Empty(Create(engine, "ck", new ContainerConfig { NetworkMode = "none" }).Networks["none"].IpAddress);
        Assert.Equal("172.17.0.2", Create(engine, "cl", new ContainerConfig()).Networks["bridge"].IpAddress);
    }

    [Fact]
    public void ANetworkInUseOrPredefinedIsNotRemovedAndDisconnectFreesIt()
    {
        using var engine = Engine();
        engine.Networks.Create("net", null, null, null, null, false, false, new Dictionary<string, string> { ["keep"] = "yes" }, null);
        engine.Networks.Create("idle", null, null, null, null, false, false, null, null);
        var c = Create(engine, "cc", new ContainerConfig());
        engine.Networks.Connect("cc", "net", new EndpointRequest(Aliases: ["alias"]));

        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Remove("net")));
        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Remove("bridge")));
        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Connect("cc", "net", new EndpointRequest())));
        Assert.Equal(["idle"], engine.Networks.Prune(_ => true));
        Assert.Equal(["bridge", "net"], engine.Containers.Resolve(c.Id).Networks.Keys.Order());

        engine.Networks.Disconnect("cc", "net", force: false);
        Assert.Equal(ErrorKind.Forbidden, Refused(() => engine.Networks.Disconnect("cc", "net", force: false)));
        engine.Networks.Remove("net");
        Assert.Equal(["bridge"], engine.Containers.Resolve(c.Id).Networks.Keys);
    }

    [Fact]
    public void NamesResolveOnTheirNetworkForRunningContainersOnly()
    {
        using var engine = Engine();
        var net = engine.Networks.Create("net", null, null, null, null, false, false, null, null);
        var other = engine.Networks.Create("other", null, null, null, null, false, false, null, null);
        var web = Create(engine, "web", new ContainerConfig { NetworkMode = "net", EndpointRequests = new Dictionary<string, EndpointRequest> { ["net"] = new(Aliases: ["www"]) } });
        var client = Create(engine, "client", new ContainerConfig { NetworkMode = "net" });
        var stranger = Create(engine, "stranger", new ContainerConfig { NetworkMode = "other" });
        var linked = Create(engine, "linked", new ContainerConfig { Links = ["web:site"] });
        Assert.Null(engine.Networks.Resolve(client.Id, net.Id, "web"));

        Run(engine, web.Id);
        var webAddress = IPAddress.Parse(web.Networks["net"].IpAddress);
        Assert.Equal(webAddress, engine.Networks.Resolve(client.Id, net.Id, "web")?.Ipv4);
        Assert.Equal(webAddress, engine.Networks.Resolve(client.Id, net.Id, "WWW.")?.Ipv4);
        Assert.Equal(webAddress, engine.Networks.Resolve(client.Id, net.Id, web.Id[..12])?.Ipv4);
        Assert.Null(engine.Networks.Resolve(stranger.Id, other.Id, "web"));
        Assert.Null(engine.Networks.Resolve(client.Id, net.Id, "example.org"));

        // The default bridge resolves nothing but links, and those only to the linked container's bridge address.
        engine.Networks.Connect("web", "bridge", new EndpointRequest());
        var bridge = engine.Networks.Get("bridge");
        var webOnBridge = IPAddress.Parse(engine.Containers.Resolve("web").Networks["bridge"].IpAddress);
        Assert.Equal(webOnBridge, engine.Networks.Resolve(linked.Id, bridge.Id, "site")?.Ipv4);
        Assert.Null(engine.Networks.Resolve(linked.Id, bridge.Id, "www"));
    }

    [Fact]
    public void AnIpv6NetworkHandsOutIpv6AddressesBesideIpv4Ones()
    {
        using var engine = Engine();
        var v6 = engine.Networks.Create("v6", null, null, null, null, false, false, null, null, null, new Ipv6Pool("2001:db8:1::1/64", "", "2001:db8:1::/96"));
        var ula = engine.Networks.Create("ula", null, null, null, null, false, false, null, null, null, new Ipv6Pool());
        var plain = engine.Networks.Create("plain", null, null, null, null, false, false, null, null);

        var first = Create(engine, "first", new ContainerConfig { NetworkMode = "v6" });
        var asked = Create(engine, "asked", new ContainerConfig { NetworkMode = "v6", EndpointRequests = new Dictionary<string, EndpointRequest> { ["v6"] = new() { Ipv6Address = "2001:db8:1::f00d" } } });
        var taken = Assert.Throws<PortLayerException>(() => Create(engine, "taken", new ContainerConfig { NetworkMode = "v6", EndpointRequests = new Dictionary<string, EndpointRequest> { ["v6"] = new() { Ipv6Address = "2001:db8:1::f00d" } } }));
        var outside = Assert.Throws<PortLayerException>(() => Create(engine, "outside", new ContainerConfig { NetworkMode = "v6", EndpointRequests = new Dictionary<string, EndpointRequest> { ["v6"] = new() { Ipv6Address = "2001:db8:9::1" } } }));
        var noIpv6 = Assert.Throws<PortLayerException>(() => Create(engine, "nov6", new ContainerConfig { NetworkMode = "plain", EndpointRequests = new Dictionary<string, EndpointRequest> { ["plain"] = new() { Ipv6Address = "2001:db8:1::5" } } }));
        var overlap = Assert.Throws<PortLayerException>(() => engine.Networks.Create("again", null, null, null, null, false, false, null, null, null, new Ipv6Pool("2001:db8:1:0:1::/80")));
        Run(engine, first.Id);

        Assert.Equal("2001:db8:1::/64", v6.Ipv6Subnet);
        Assert.Equal("2001:db8:1::1", v6.Ipv6Gateway);
        Assert.True(v6.HasAddresses); // IPv4 too, as dockerd gives every network
        Assert.Equal("2001:db8:1::2", first.Networks["v6"].Ipv6Address);
        Assert.Equal(64, first.Networks["v6"].Ipv6PrefixLength);
        Assert.Equal("2001:db8:1::f00d", asked.Networks["v6"].Ipv6Address);
        Assert.Equal("2001:db8:1::f00d", asked.Networks["v6"].RequestedIpv6);
        Assert.StartsWith("fd", ula.Ipv6Subnet, StringComparison.Ordinal);
        Assert.EndsWith("/64", ula.Ipv6Subnet, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.Conflict, taken.Kind);
        Assert.Equal(ErrorKind.InvalidParameter, outside.Kind);
        Assert.Contains("has no IPv6", noIpv6.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.Forbidden, overlap.Kind);
        Assert.Equal(IPAddress.Parse("2001:db8:1::2"), engine.Networks.Resolve(asked.Id, v6.Id, "first")?.Ipv6);
        Assert.Equal("", plain.Ipv6Subnet);
    }

    private static ContainerRecord Create(VchEngine engine, string name, ContainerConfig config) =>
        engine.Networks.CreateConnected(config, c => engine.Containers.Create(new NewContainer(name, "busybox", null, c)));

    private void Run(VchEngine engine, string id) =>
        engine.Containers.Transition(id, (who, s) => s.Start(who, _time.GetUtcNow()), "start");

    private static ErrorKind Refused(Action action) => Assert.Throws<PortLayerException>(action).Kind;

    [Fact]
    public void APortGroupIsAPredefinedExternalNetworkWithItsOwnAddressing()
    {
        ContainerNetworkConfig lan = new("lan", "VM Network", "10.9.0.1/24", "10.9.0.1", "10.9.0.128/25", ["10.9.0.2"]);
        using (var first = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default) { ContainerNetworks = [lan] }, _time))
        {
            var network = first.Networks.Get("lan");
            var container = first.Networks.CreateConnected(new ContainerConfig { Cmd = ["true"], NetworkMode = "lan" }, c => first.Containers.Create(new NewContainer("onlan", "busybox", null, c)));
            var refused = Assert.Throws<PortLayerException>(() => first.Networks.Remove("lan"));

            Assert.Equal(("external", "10.9.0.0/24", "10.9.0.1", "10.9.0.128/25", "VM Network"), (network.Driver, network.Subnet, network.Gateway, network.IpRange, network.Options["portgroup"]));
            Assert.True(network.Predefined);
            Assert.Equal("10.9.0.128", container.Networks["lan"].IpAddress);
            Assert.Equal(ErrorKind.Forbidden, refused.Kind);
        }

        // Configured no more and still used: kept; the address is the container's.
        using var again = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
        Assert.NotNull(again.Networks.Find("lan"));
        Assert.Throws<PortLayerException>(() => new VchEngine(new VchConfig("bad", _dir.File("bad"), new VmResources(4, 8L << 30), null, RegistryConfig.Default) { ContainerNetworks = [lan with { Gateway = "10.8.0.1" }] }, _time));
    }

    private VchEngine Engine() => new(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), _time);
}
