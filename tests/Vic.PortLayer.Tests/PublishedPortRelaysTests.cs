using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>The endpoint's listeners for published ports on a backend that does not forward them.</summary>
public sealed class PublishedPortRelaysTests : IDisposable
{
    private readonly RuntimeParts _parts = new();
    private readonly PublishedPortRelays _relays;

    public PublishedPortRelaysTests() => _relays = new PublishedPortRelays(_parts.Runtime, NullLogger.Instance);

    [Fact]
    public void APortTakenSinceItWasCheckedFailsWithDockersWordsAndLeavesNoneOfTheOthersBound()
    {
        var free = HostPorts.PickFree("tcp", "127.0.0.1", []);
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        var record = Record([new PublishedPort("tcp", 80, "127.0.0.1", free), new PublishedPort("tcp", 81, "127.0.0.1", taken)]);
        using var run = Run(record, TetherProtocol.Version);

        var refused = Assert.Throws<PortLayerException>(() => _relays.Open(record, run));

        Assert.Contains($"Bind for 127.0.0.1:{taken} failed: port is already allocated", refused.Message, StringComparison.Ordinal);
        Assert.True(HostPorts.IsFree("tcp", "127.0.0.1", free));
    }

    [Fact]
    public void ATetherTooOldToRelayIsRefusedByName()
    {
        var record = Record([new PublishedPort("tcp", 80, "127.0.0.1", HostPorts.PickFree("tcp", "127.0.0.1", []))]);
        using var run = Run(record, 1);

        var refused = Assert.Throws<PortLayerException>(() => _relays.Open(record, run));

        Assert.Contains("cannot take published ports", refused.Message, StringComparison.Ordinal);
        Assert.True(HostPorts.IsFree("tcp", "127.0.0.1", record.Ports[0].HostPort));
    }

    [Fact]
    public void ThePortsAreFreedWhenTheRunEndsWithoutAnyoneClosingThem()
    {
        var record = Record([new PublishedPort("tcp", 80, "127.0.0.1", HostPorts.PickFree("tcp", "127.0.0.1", [])), new PublishedPort("udp", 53, "127.0.0.1", HostPorts.PickFree("udp", "127.0.0.1", []))]);
        var run = Run(record, TetherProtocol.Version);
        _relays.Open(record, run);
        var boundWhileRunning = !HostPorts.IsFree("tcp", "127.0.0.1", record.Ports[0].HostPort) && !HostPorts.IsFree("udp", "127.0.0.1", record.Ports[1].HostPort);

        run.Dispose();

        Assert.True(boundWhileRunning);
        Assert.True(HostPorts.IsFree("tcp", "127.0.0.1", record.Ports[0].HostPort));
        Assert.True(HostPorts.IsFree("udp", "127.0.0.1", record.Ports[1].HostPort));
    }

    public void Dispose()
    {
        _relays.Dispose();
        _parts.Dispose();
    }

    private ContainerRecord Record(IReadOnlyList<PublishedPort> ports) =>
        _parts.Catalog.Change(_parts.Catalog.Create(new NewContainer("web" + Guid.NewGuid().ToString("N")[..6], "busybox", null, new ContainerConfig { Cmd = ["true"] })).Id, r => r with { Ports = ports }, null);

    private static RunningContainer Run(ContainerRecord record, int tetherVersion) =>
        new(new MemoryStream(), record.Id) { TetherVersion = tetherVersion };
}
