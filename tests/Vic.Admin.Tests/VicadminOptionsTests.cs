using System.Net;
using Vic.Endpoint.Configuration;
using Vic.Endpoint.Hosting;

namespace Vic.Admin.Tests;

public sealed class VicadminOptionsTests
{
    [Fact]
    public void VicadminNeedsAWayToLogInAndAPortOfItsOwn()
    {
        var none = Assert.Throws<ArgumentException>(() => new EndpointOptions { Vicadmin = "127.0.0.1:2378", DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("nobody could log in", none.Message, StringComparison.Ordinal);

        var orphan = Assert.Throws<ArgumentException>(() => new EndpointOptions { VicadminPasswordFile = "/etc/hostname", DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("--vicadmin-password-file needs --vicadmin", orphan.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<ArgumentException>(() => new EndpointOptions { Vicadmin = "127.0.0.1", VicadminPasswordFile = "/nonexistent/pw", DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("no such file /nonexistent/pw", missing.Message, StringComparison.Ordinal);

        var socket = Assert.Throws<ArgumentException>(() => new EndpointOptions { Vicadmin = "unix:///tmp/admin.sock", VicadminPasswordFile = "/etc/hostname", DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("not a TCP address", socket.Message, StringComparison.Ordinal);

        var config = new EndpointOptions { Vicadmin = "127.0.0.1", VicadminPasswordFile = "/etc/hostname", DataDirectory = "/tmp/x" }.Validate();
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, EndpointOptions.DefaultVicadminPort), config.Vicadmin?.Listen);
    }

    [Fact]
    public void ARegistryCaMustBeAPemFileOfCertificates()
    {
        var notPem = Assert.Throws<ArgumentException>(() => new EndpointOptions { RegistryCas = ["/etc/hostname"], DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("--registry-ca /etc/hostname", notPem.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<ArgumentException>(() => new EndpointOptions { RegistryCas = ["/nonexistent/ca.pem"], DataDirectory = "/tmp/x" }.Validate());
        Assert.Contains("--registry-ca: no such file /nonexistent/ca.pem", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSettingsVicadminShowsNeverHoldTheVspherePassword()
    {
        var config = new EndpointOptions
        {
            Backend = "vsphere",
            Target = "vcenter.example.com",
            User = "administrator@vsphere.local",
            Password = "hunter2-vsphere",
            Datacenter = "DC0",
            ComputeResource = "DC0/host/C0",
            ImageStore = "datastore1",
            ChannelAddress = "10.0.0.5",
            Vicadmin = "0.0.0.0:2378",
            DataDirectory = "/tmp/x",
        }.Validate();

        var settings = VicadminComposition.SettingsOf(config, config.Vicadmin!);

        Assert.Contains(settings, s => s.Key == "vSphere user" && s.Value == "administrator@vsphere.local");
        Assert.Contains(settings, s => s.Key == "vSphere target" && s.Value == "https://vcenter.example.com/sdk");
        Assert.All(settings, s => Assert.DoesNotContain("hunter2", s.Value, StringComparison.Ordinal));
    }
}
