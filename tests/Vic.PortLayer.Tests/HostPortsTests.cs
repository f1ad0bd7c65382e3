using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Vic.PortLayer.Networks;

namespace Vic.PortLayer.Tests;

public sealed class HostPortsTests
{
    [Fact]
    public void PickedPortsLieOutsideTheKernelsEphemeralRange()
    {
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var (low, high) = (int.Parse(range[0], CultureInfo.InvariantCulture), int.Parse(range[1], CultureInfo.InvariantCulture));

        var picked = Enumerable.Range(0, 50).Select(_ => HostPorts.PickFree("tcp", "127.0.0.1", [])).ToList();

        Assert.All(picked, p => Assert.True(p < low || p > high, $"{p} is in {low}-{high}"));
        Assert.All(picked, p => Assert.InRange(p, 1024, 65535));
    }

    [Fact]
    public void APortInUseOrAlreadyTakenIsNeverPicked()
    {
        var (first, _) = HostPorts.QuietRange();
        using var holder = new TcpListener(IPAddress.Loopback, first);
        holder.Start();
        var taken = Enumerable.Range(first + 1, 30).ToList();

        var picked = Enumerable.Range(0, 200).Select(_ => HostPorts.PickFree("tcp", "127.0.0.1", taken)).ToList();

        Assert.False(HostPorts.IsFree("tcp", "127.0.0.1", first));
        Assert.DoesNotContain(first, picked);
        Assert.Empty(picked.Intersect(taken));
        Assert.All(picked, p => Assert.True(HostPorts.IsFree("tcp", "127.0.0.1", p)));
    }
}
