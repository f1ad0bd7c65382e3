using Vic.TestSupport;

namespace Vic.Bootstrap.Tests;

/// <summary>
/// The VCH appliance's image (iso/build-appliance.sh): booted from its CD as vSphere boots it, with
/// its configuration on a disk labelled VIC_CONFIG, it addresses its NIC and serves the Docker API,
/// keeping its state (here in memory: no VIC_DATA disk).
/// </summary>
[Collection(nameof(ApplianceBootTests))]
public sealed class ApplianceBootTests : IDisposable
{
    private readonly TempDirectory _home = new("appliance");

    [Fact]
    public async Task TheApplianceBootsFromItsCdAndServesTheDockerApiFromItsConfigDisk()
    {
        var build = await Command.RunAsync(Repository.Combine("iso", "build-appliance.sh"), [], timeout: TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, build.ToString());
        var config = Directory.CreateDirectory(_home.Combine("config")).FullName;
        File.WriteAllText(Path.Combine(config, "endpoint.args"), "-H\ntcp://0.0.0.0:2375\n--allow-insecure-remote\n--name\nappliance-e2e\n");
        // No network.sh: the NIC takes DHCP (user networking leases 10.0.2.15, where the forward goes);
        // Vic.Machine's ApplianceTests gives one a static address.
        var disk = _home.Combine("config.img");
        var made = await Command.RunAsync("mkfs.ext4", ["-q", "-L", "VIC_CONFIG", "-d", config, disk, "4M"]);
        Assert.True(made.ExitCode == 0, made.ToString());
        var port = EndpointProcess.FreePort();

        await using var vm = QemuVm.Start([
            .. QemuVm.BaseArguments(memoryMib: 1024),
            "-cdrom", Repository.Combine("iso", "out", "appliance.iso"),
            "-drive", $"file={disk},if=virtio,format=raw,readonly=on",
            "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:2375", "-device", "virtio-net-pci,netdev=n0",
        ]);
        var serving = await vm.WaitForLineAsync("serving the Docker API on tcp://0.0.0.0:2375", TimeSpan.FromMinutes(4));
        var host = $"tcp://127.0.0.1:{port}";
        var version = await Command.DockerAsync(host, "version", "--format", "{{.Server.Os}} {{.Server.APIVersion}}");
        var created = await Command.DockerAsync(host, "volume", "create", "kept");
        var listed = await Command.DockerAsync(host, "volume", "ls", "--format", "{{.Name}}");
        var info = await Command.DockerAsync(host, "info", "--format", "{{.Name}}");

        Assert.True(version.ExitCode == 0, $"{version}\n{vm.Console}");
        Assert.Equal("linux 1.47\n", version.StandardOutput);
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal("kept\n", listed.StandardOutput);
        Assert.Equal("appliance-e2e\n", info.StandardOutput);
        Assert.Contains("vic-appliance: starting the endpoint", vm.Console, StringComparison.Ordinal);
        Console.WriteLine($"appliance: Docker API served {serving.TotalSeconds:0.0} s after QEMU started");
    }

    public void Dispose() => _home.Dispose();
}

/// <summary>The appliance's boot under TCG takes the machine's cores: it runs alone.</summary>
[CollectionDefinition(nameof(ApplianceBootTests), DisableParallelization = true)]
public sealed class ApplianceBootCollection;
