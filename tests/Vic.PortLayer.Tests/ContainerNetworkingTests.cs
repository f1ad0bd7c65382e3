using System.Net;
using System.Net.Sockets;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>A container's networking at run time, alone: real networks and catalog, no fabric, no hypervisor.</summary>
public sealed class ContainerNetworkingTests : IDisposable
{
    private readonly RuntimeParts _parts = new();

    public void Dispose() => _parts.Dispose();

    [Fact]
    public void PublishedPortsAreTheBindingsAndWithPublishAllAFreePortForEveryExposedOne()
    {
        var free = HostPorts.PickFree("tcp", "127.0.0.1", []);
        var record = Connected("web", new ContainerConfig
        {
            Cmd = ["nginx"],
            PortBindings = [new PortBinding("80/tcp", "127.0.0.1", free.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            ExposedPorts = ["80/tcp", "53/udp"],
            PublishAllPorts = true,
        });

        var ports = ContainerNetworking.ResolvePorts(record);

        Assert.Equal(new PublishedPort("tcp", 80, "127.0.0.1", free), ports[0]);
        var udp = Assert.Single(ports, p => p.Protocol == "udp");
        Assert.Equal((53, "0.0.0.0"), (udp.ContainerPort, udp.HostIp));
        Assert.InRange(udp.HostPort, 1, 65535);
        Assert.Equal(2, ports.Count);
    }

    [Fact]
    public void AHostPortAnotherProcessHoldsFailsTheStartAsOnDockerd()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var held = ((IPEndPoint)holder.LocalEndpoint).Port;
        var record = Connected("clash", new ContainerConfig { Cmd = ["nginx"], PortBindings = [new PortBinding("80/tcp", "127.0.0.1", held.ToString(System.Globalization.CultureInfo.InvariantCulture))] });
        var ranges = Connected("ranges", new ContainerConfig { Cmd = ["nginx"], PortBindings = [new PortBinding("80-82/tcp", "", "9000-9001")] });

        var allocated = Assert.Throws<PortLayerException>(() => ContainerNetworking.ResolvePorts(record));
        var mismatched = Assert.Throws<PortLayerException>(() => ContainerNetworking.ResolvePorts(ranges));

        Assert.Equal($"driver failed programming external connectivity on endpoint clash ({record.Id}): Bind for 127.0.0.1:{held} failed: port is already allocated", allocated.Message);
        Assert.Equal(ErrorKind.InvalidParameter, mismatched.Kind);
    }

    [Fact]
    public void ALinkGivesTheLinkedContainersAddressUnderItsAliasAndItsPortsAndEnvironmentAsVariables()
    {
        var db = Connected("db", new ContainerConfig { Cmd = ["postgres"], ExposedPorts = ["5432/tcp"], Env = ["FOO=1", "HOME=/root", "PATH=/bin"] });
        var web = Connected("web", new ContainerConfig { Cmd = ["nginx"], Links = ["db:database"] });
        var address = db.Networks.Values.Single().IpAddress;

        var hosts = _parts.Networking.LinkHostsOf(web);
        var variables = _parts.Networking.LinkEnvironmentOf(web);

        Assert.Equal([$"{address}\tdatabase db"], hosts);
        Assert.Equal(
            ["DATABASE_NAME=/web/database", $"DATABASE_PORT=tcp://{address}:5432", $"DATABASE_PORT_5432_TCP=tcp://{address}:5432", $"DATABASE_PORT_5432_TCP_ADDR={address}", "DATABASE_PORT_5432_TCP_PORT=5432", "DATABASE_PORT_5432_TCP_PROTO=tcp", "DATABASE_ENV_FOO=1"],
            variables);
    }

    [Fact]
    public void RemovingALinkForgetsItAndAnUnknownOneIsNotFound()
    {
        Connected("db", new ContainerConfig { Cmd = ["postgres"] });
        var web = Connected("web", new ContainerConfig { Cmd = ["nginx"], Links = ["db:database"] });

        _parts.Networking.RemoveLink("/web/database");
        var missing = Assert.Throws<PortLayerException>(() => _parts.Networking.RemoveLink("/web/database"));

        Assert.Empty(_parts.Catalog.Resolve(web.Id).Config.Links);
        Assert.Empty(_parts.Networking.LinkHostsOf(_parts.Catalog.Resolve(web.Id)));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);
    }

    [Fact]
    public void TheGuestIsToldItsBridgeAddressAndTheWayOutThroughThePublicNic()
    {
        var record = Connected("guest", new ContainerConfig { Cmd = ["sh"] });
        var endpoint = record.Networks.Values.Single();
        var nic = new PublicNic("10.0.2.15", "10.0.2.2", ["10.0.2.3"]);

        var guest = _parts.Networking.GuestNetworkOf(record, nic)!;
        var vm = _parts.Networking.VmNetworkOf(record)!;

        Assert.Equal([$"{endpoint.IpAddress}/{endpoint.PrefixLength}"], guest.BridgeAddresses);
        Assert.Equal(("10.0.2.15", "10.0.2.2", endpoint.IpAddress), (guest.PublicAddress, guest.PublicGateway, guest.HostAddress));
        Assert.Equal((record.MacAddress, true, true), (vm.BridgeMac, vm.Outbound, vm.OnBridge));
        Assert.Equal(["10.0.2.3"], _parts.Networking.NameserversOf(record, nic));
        Assert.Equal(["9.9.9.9"], _parts.Networking.NameserversOf(record with { Config = record.Config with { Dns = ["9.9.9.9"] } }, nic));
    }

    [Fact]
    public void AContainerOnNoNetworkHasNoNicsToWireOrTell()
    {
        var record = Connected("alone", new ContainerConfig { Cmd = ["sh"], NetworkMode = "none" });

        Assert.Null(_parts.Networking.VmNetworkOf(record));
        Assert.Null(_parts.Networking.GuestNetworkOf(record, new PublicNic("10.0.2.15", "10.0.2.2", [])));
    }

    private ContainerRecord Connected(string name, ContainerConfig config) =>
        _parts.Networks.CreateConnected(config, c => _parts.Catalog.Create(new NewContainer(name, "busybox", null, c)));
}
