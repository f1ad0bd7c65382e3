using Vic.TestSupport;
namespace Vic.Machine.Tests;

public sealed class MachineOptionsTests
{
    [Theory]
    [InlineData("3m0s", 180)]
    [InlineData("90s", 90)]
    [InlineData("1h30m", 5400)]
    [InlineData("1.5m", 90)]
    [InlineData("2m500ms", 120.5)]
    public void TimeoutsAreGoDurationsAsVicTookThem(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), OperationTimeout.Parse(text));

    [Theory]
    [InlineData("3")]
    [InlineData("0")]
    [InlineData("0s")]
    [InlineData("3 minutes")]
    [InlineData("-1m")]
    public void ATimeoutThatIsNoDurationIsRefused(string text) =>
        Assert.Contains("--timeout", Assert.Throws<MachineException>(() => OperationTimeout.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void WithoutATimeoutAnOperationHasTenMinutesPrintedAsGoPrintsThem()
    {
        Assert.Equal(TimeSpan.FromMinutes(10), OperationTimeout.Parse(null));
        Assert.Equal("10m0s", OperationTimeout.Format(TimeSpan.FromMinutes(10)));
        Assert.Equal("1h30m0s", OperationTimeout.Format(TimeSpan.FromMinutes(90)));
        Assert.Equal("45s", OperationTimeout.Format(TimeSpan.FromSeconds(45)));
    }

    [Fact]
    public void InspectConfigPrintsTheCreateCommandOfTheRecordWithoutItsPassword()
    {
        var record = new VchSettings
        {
            Target = "vcenter.example.com",
            User = "administrator@vsphere.local",
            Password = "hunter2",
            Name = "vch1",
            ComputeResource = "/DC0/host/cluster1",
            ImageStore = "datastore 1",
            RegistryMirror = ["http://mirror:5000/"],
            InsecureRegistry = ["a:5000", "b:5000"],
            NoTlsverify = true,
            Memory = 4096,
            Version = "v0.1.0-abcdef0",
            HttpsProxy = "http://puller:proxy-pw@proxy.example.com:3128",
            NoProxy = ".example.com,10.0.0.0/8",
        };

        var verbose = RecreateCommand.Of(record, raw: false);
        var raw = RecreateCommand.Of(record, raw: true);

        Assert.StartsWith("vic-machine-linux create \\\n  --target vcenter.example.com \\\n  --user administrator@vsphere.local \\\n  --name vch1 \\\n", verbose, StringComparison.Ordinal);
        Assert.Contains("--image-store 'datastore 1'", raw, StringComparison.Ordinal);
        Assert.Contains("--insecure-registry a:5000 --insecure-registry b:5000", raw, StringComparison.Ordinal);
        Assert.Contains("--no-tlsverify", raw, StringComparison.Ordinal);
        Assert.Contains("--memory 4096", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", raw, StringComparison.Ordinal);
        Assert.Contains("--https-proxy http://xxxxx:xxxxx@proxy.example.com:3128 --no-proxy .example.com,10.0.0.0/8", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("proxy-pw", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("--version", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", raw, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSyslogServerReachesTheEndpointAsAnOptionAndTheProxiesAsItsEnvironment()
    {
        var plan = VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1", HttpProxy = "http://proxy:3128", HttpsProxy = "http://u:p@proxy:3129", NoProxy = "registry.local", SyslogAddress = "udp://logs.example.com" }, forCreate: false);

        var arguments = string.Join(' ', EndpointSettings.Common(plan));

        // The proxies go by the environment: a password in one would show in a process listing.
        Assert.Contains("--syslog-address udp://logs.example.com", arguments, StringComparison.Ordinal);
        Assert.DoesNotContain("proxy", arguments, StringComparison.Ordinal);
        Assert.Equal(
            new Dictionary<string, string> { ["HTTP_PROXY"] = "http://proxy:3128", ["HTTPS_PROXY"] = "http://u:p@proxy:3129", ["NO_PROXY"] = "registry.local" },
            EndpointSettings.ProxyEnvironment(plan));
        Assert.Empty(EndpointSettings.ProxyEnvironment(VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1", HttpProxy = " " }, forCreate: false)));
        Assert.Contains("--https-proxy 'ftp://xxxxx:xxxxx@proxy'", Assert.Throws<MachineException>(() => VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1", HttpsProxy = "ftp://u:p@proxy" }, forCreate: false)).Message, StringComparison.Ordinal);
        Assert.Contains("(--syslog-address)", Assert.Throws<MachineException>(() => VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1", SyslogAddress = "logs:514" }, forCreate: false)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheAppliancesProxyFileGivesTheShellEachValueAsItIsAndOnlyRootReadsIt()
    {
        const string proxy = "http://o'brien:$(touch pwned)`x`@proxy:3128";
        var plan = VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1", HttpsProxy = proxy, NoProxy = ".corp" }, forCreate: false);
        var file = ApplianceDeployer.ProxyEnvironmentFile(plan)!;
        var home = Directory.CreateTempSubdirectory("proxy-env").FullName;
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(home, file.Name), file.Content);

            // busybox's shell sources it in the appliance.
            var read = await Command.RunAsync("busybox", ["sh", "-c", ". ./proxy.env && printf '%s|%s|%s' \"$HTTPS_PROXY\" \"$NO_PROXY\" \"${HTTP_PROXY-unset}\""], workingDirectory: home);

            Assert.Equal("proxy.env", file.Name);
            Assert.True(file.Secret);
            Assert.Equal($"{proxy}|.corp|unset", read.StandardOutput);
            Assert.False(File.Exists(Path.Combine(home, "pwned")));
            Assert.Null(ApplianceDeployer.ProxyEnvironmentFile(VchPlan.Validate(new VchSettings { Target = "local", Name = "vch1" }, forCreate: false)));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Theory]
    [InlineData(null, "--endpoint-address: give the address clients reach the appliance's Docker API at")]
    [InlineData("0.0.0.0:2376", "--endpoint-address: give the address clients reach the appliance's Docker API at")]
    [InlineData("10.0.0.5:2376", null)]
    public void AnApplianceNeedsTheAddressItsClientsReachItAtAndAnIsoOfItsOwn(string? endpoint, string? refusal)
    {
        var iso = Path.GetTempFileName();
        try
        {
            var settings = VcenterSettings.For(iso);
            settings.EndpointAddress = endpoint;
            if (refusal is null)
            {
                var plan = VchPlan.Validate(settings, forCreate: true);
                Assert.True(plan.Appliance);
                Assert.Equal(iso, plan.ApplianceIso);
                Assert.False(VchPlan.Validate(new VchSettings { Target = "vcenter.example.com", User = "a", Password = "p", Name = "vch1", ComputeResource = "c", ImageStore = "ds1", ChannelAddress = "10.0.0.9", Iso = iso, LocalEndpoint = true }, forCreate: true).Appliance);
            }
            else
            {
                Assert.Contains(refusal, Assert.Throws<MachineException>(() => VchPlan.Validate(settings, forCreate: true)).Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(iso);
        }
    }
}
