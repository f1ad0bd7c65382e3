using Vic.TestSupport;

namespace Vic.Machine.Tests;

/// <summary>
/// VIC's <c>--public-network-ip</c>: the appliance's static address, which also names the Docker
/// API's address when <c>--endpoint-address</c> is not given, and its network.sh. (ApplianceTests
/// boots an appliance with one.)
/// </summary>
public sealed class ApplianceAddressTests : IDisposable
{
    private readonly TempDirectory _home = new("appliance-address");

    [Fact]
    public void AStaticAddressIsTheEndpointsAddressAndTheServerCertificatesName()
    {
        var plan = VchPlan.Validate(Settings(ip: "10.0.0.5/24", gateway: "10.0.0.1/24", range: "10.0.0.128/25", dns: "10.0.0.2, 10.0.0.3"), forCreate: true);

        Assert.Equal("10.0.0.5:2376", plan.Endpoint.ToString());
        Assert.Equal("10.0.0.5", plan.TlsCname);
        Assert.Equal("10.0.0.5/24", plan.StaticAddress!.ToString());
        Assert.Equal("10.0.0.1", plan.StaticAddress.Gateway!.ToString());
        Assert.Equal(["10.0.0.2", "10.0.0.3"], plan.StaticAddress.Nameservers.Select(n => n.ToString()));
    }

    [Fact]
    public void ABareAddressTakesTheGatewaysPrefixAndAGivenEndpointAddressStillWins()
    {
        var plan = VchPlan.Validate(Settings(ip: "10.0.0.5", gateway: "10.0.0.1/16", range: "10.0.128.0/17", dns: "10.0.0.2", endpoint: "192.0.2.7:2376"), forCreate: true);

        Assert.Equal("10.0.0.5/16", plan.StaticAddress!.ToString());
        Assert.Equal("192.0.2.7:2376", plan.Endpoint.ToString());
    }

    [Theory]
    [InlineData("10.0.0.5", null, null, "--public-network-ip '10.0.0.5': IP/PREFIX")]
    [InlineData("10.0.0.5/33", null, null, "the prefix must be 1-30")]
    [InlineData("fe80::5/64", null, null, "an IPv4 address")]
    [InlineData("10.5/24", null, null, "an IPv4 address")]
    [InlineData("10.0.0.0/24", null, null, "the subnet's network or broadcast address")]
    [InlineData("10.0.0.255/24", null, null, "the subnet's network or broadcast address")]
    [InlineData("10.0.0.5/24", "10.0.1.1/24", "10.0.0.128/25", "is not in the appliance's subnet 10.0.0.0/24")]
    [InlineData("10.0.0.1/24", "10.0.0.1/24", "10.0.0.128/25", "is the gateway's own address")]
    [InlineData("10.0.0.5/24", "10.0.0.1/24", null, "is among the containers' public addresses (the whole subnet 10.0.0.0/24")]
    [InlineData("10.0.0.200/24", "10.0.0.1/24", "10.0.0.128/25", "is among the containers' public addresses (--public-network-ip-range 10.0.0.128/25)")]
    public void AnAddressTheApplianceCannotHoldIsRefusedSayingWhy(string ip, string? gateway, string? range, string refusal) =>
        Assert.Contains(refusal, Assert.Throws<MachineException>(() => VchPlan.Validate(Settings(ip, gateway, range, dns: "10.0.0.2"), forCreate: true)).Message, StringComparison.Ordinal);

    [Fact]
    public void ANewStaticAddressNeedsNameserversAndARecordedOneIsManagedAsItWasMade()
    {
        Assert.Contains("give --public-network-dns too", Assert.Throws<MachineException>(() => VchPlan.Validate(Settings("10.0.0.5/24", null, null), forCreate: true)).Message, StringComparison.Ordinal);
        var recorded = Settings("10.0.0.5/24", null, null);
        recorded.LocalEndpoint = false;
        Assert.Empty(VchPlan.Validate(recorded, forCreate: false).StaticAddress!.Nameservers);
    }

    [Fact]
    public void AVchWithoutAnApplianceHasNoAddressToGive()
    {
        var local = Settings("10.0.0.5/24", null, null, dns: "10.0.0.2");
        local.LocalEndpoint = true;
        Assert.Contains("--public-network-ip is the appliance's address", Assert.Throws<MachineException>(() => VchPlan.Validate(local, forCreate: true)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheNetworkScriptAddressesTheOnlyNicRoutesThroughTheGatewayAndWritesResolvConf()
    {
        var script = new ApplianceAddress(System.Net.IPAddress.Parse("10.0.0.5"), 22, System.Net.IPAddress.Parse("10.0.0.1"), [System.Net.IPAddress.Parse("10.0.0.2")]).NetworkScript();

        Assert.Contains("ifconfig \"$nic\" 10.0.0.5 netmask 255.255.252.0 up\n", script, StringComparison.Ordinal);
        Assert.Contains("route add default gw 10.0.0.1\n", script, StringComparison.Ordinal);
        Assert.Contains("echo 'nameserver 10.0.0.2' >>/etc/resolv.conf\n", script, StringComparison.Ordinal);
        // busybox's shell, which runs it in the appliance, reads it whole.
        var parsed = await Command.RunAsync("busybox", ["sh", "-n", "-c", script]);
        Assert.True(parsed.ExitCode == 0, parsed.ToString());
    }

    private VchSettings Settings(string ip, string? gateway, string? range, string? dns = null, string? endpoint = null)
    {
        var iso = _home.Combine("some.iso");
        File.WriteAllText(iso, "");
        var settings = VcenterSettings.For(iso);
        settings.PublicNetwork = "VM Network";
        settings.PublicNetworkIp = ip;
        settings.PublicNetworkGateway = gateway;
        settings.PublicNetworkIpRange = range;
        settings.PublicNetworkDns = dns;
        settings.EndpointAddress = endpoint;
        return settings;
    }

    public void Dispose() => _home.Dispose();
}
