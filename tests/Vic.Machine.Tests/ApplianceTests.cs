using Microsoft.Extensions.Logging.Abstractions;
using Vic.TestSupport;
using Vic.Vim25;

namespace Vic.Machine.Tests;

/// <summary>
/// The VCH as VIC shipped it: vic-machine deploys the endpoint as an appliance VM in the VCH's
/// pool, booted from appliance.iso, configured from a disk of its own; vcsim's VMs are played as
/// QEMU VMs, the appliance's ports forwarded from a loopback address of its own.
/// </summary>
[Collection(nameof(ApplianceTests))]
public sealed class ApplianceTests(VcsimFixture fixture) : IClassFixture<VcsimFixture>, IDisposable
{
    private static readonly string Iso = Repository.Combine("iso", "out", "bootstrap.iso");

    private readonly TempDirectory _home = new("appliance");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TheConfigDiskIsAnExt4FileSystemLabelledForTheApplianceWithItsSecretsReadableByRootAlone()
    {
        var flat = _home.Combine("config-flat.vmdk");

        ApplianceConfigDisk.Write(flat, [ConfigFile.Text("endpoint.args", "--name\nVM Network\n"), ConfigFile.Text("vsphere-password", "s3cret\n", secret: true)]);

        Assert.Equal(ApplianceConfigDisk.CapacityBytes, new FileInfo(flat).Length);
        var check = await Command.RunAsync("e2fsck", ["-fn", flat]);
        Assert.True(check.ExitCode == 0, check.ToString());
        var label = await Command.RunAsync("e2label", [flat]);
        Assert.Equal("VIC_CONFIG\n", label.StandardOutput);
        var args = await Command.RunAsync("debugfs", ["-R", "cat /endpoint.args", flat]);
        Assert.Equal("--name\nVM Network\n", args.StandardOutput);
        var secret = await Command.RunAsync("debugfs", ["-R", "stat /vsphere-password", flat]);
        Assert.Contains("Mode:  0600", secret.StandardOutput, StringComparison.Ordinal);
        var descriptor = ApplianceConfigDisk.Descriptor("config-flat.vmdk", ApplianceConfigDisk.CapacityBytes);
        Assert.Contains("createType=\"vmfs\"", descriptor, StringComparison.Ordinal);
        Assert.Contains("RW 32768 VMFS \"config-flat.vmdk\"", descriptor, StringComparison.Ordinal);
    }

    /// <summary>
    /// An admin's create with <c>--appliance</c>: the appliance VM is in the pool and powered on,
    /// its Docker API answers with TLS and client certificates on the address the certificate
    /// names, it keeps state on the data disk it formatted across an upgrade (a new ISO, the
    /// appliance restarted), and delete leaves nothing in vSphere.
    /// </summary>
    [Fact]
    public async Task CreateDeploysTheApplianceWhoseDockerApiAnswersWithTlsAndKeepsItsStateAcrossAnUpgrade()
    {
        var build = await Command.RunAsync(Repository.Combine("iso", "build-appliance.sh"), [], timeout: TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, build.ToString());
        const string Name = "vcha1";
        const string Address = "127.0.0.58";
        const int Published = 8080;
        var certs = _home.Combine(Name);
        var served = EndpointProcess.FreePort();
        await using var registry = await LocalRegistry.StartAsync();
        await registry.SeedBusyboxAsync();
        // The appliance's own log goes to this host's rsyslogd (10.0.2.2 from the appliance).
        await using var syslog = await SyslogServer.StartAsync();
        await using var guests = await SimulatedGuests.StartAsync(fixture.Session, Name, appliance: new ApplianceNetwork(fixture.Server.DatastoreDirectory, Address, [2376, 2378, Published], GuestAddress: "10.0.2.20"));

        // vcsim listens on this host's loopback, which the appliance reaches as 10.0.2.2.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var create = await VicMachineAsync(
            "create", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", fixture.Server.Thumbprint,
            "--compute-resource", "DC0_C0", "--image-store", fixture.Server.Datastore, "--name", Name, "--cert-path", certs, "--iso", Iso,
            "--appliance-target", $"https://10.0.2.2:{fixture.Server.Sdk.Port}/sdk", "--endpoint-address", $"{Address}:2376",
            "--bridge-network", "VM Network", "--public-network", "VM Network",
            // A static address, not the one user networking's DHCP would lease (10.0.2.15): the forwards reach only this one.
            "--public-network-ip", "10.0.2.20/24", "--public-network-gateway", "10.0.2.2/24", "--public-network-ip-range", "10.0.2.128/25", "--public-network-dns", "10.0.2.3",
            // A proxy for https:// registries, with a password (none is used here: the mirror is http://), and the syslog server.
            "--https-proxy", "http://puller:s3cret@10.0.2.2:3128", "--no-proxy", "10.0.2.2", "--syslog-address", $"tcp://10.0.2.2:{syslog.TcpPort}",
            "--registry-mirror", $"http://10.0.2.2:{registry.Port}", "--timeout", "4m0s");
        Assert.True(create.ExitCode == 0, $"{create}\nguests:\n{guests.Output}");
        Assert.Contains("making VIC_DATA on the blank disk", guests.Output, StringComparison.Ordinal);
        Assert.Contains("vic-appliance: eth0 10.0.2.20/24 (static), gateway 10.0.2.2", guests.Output, StringComparison.Ordinal);
        var created = clock.Elapsed;

        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var pool = await session.FindByInventoryPathAsync($"DC0/host/DC0_C0/Resources/{Name}", CancellationToken.None);
        Assert.NotNull(pool);
        var vms = await session.ListAsync("VirtualMachine", ["name", "runtime.powerState"], CancellationToken.None, pool);
        Assert.Contains(vms, vm => vm.Text("name") == Name && vm.Text("runtime.powerState") == "poweredOn");

        var docker = new Dictionary<string, string> { ["DOCKER_TLS_VERIFY"] = "1", ["DOCKER_CERT_PATH"] = certs, ["DOCKER_HOST"] = $"tcp://{Address}:2376" };
        var version = await Command.RunAsync("docker", ["version", "--format", "{{.Server.Os}}"], docker);
        var info = await Command.RunAsync("docker", ["info", "--format", "{{.Name}} {{.Driver}}"], docker);
        var volume = await Command.RunAsync("docker", ["volume", "create", "kept"], docker);
        var untrusted = await Command.RunAsync("docker", ["-H", $"tcp://{Address}:2376", "version"]);
        var proxies = await Command.RunAsync("docker", ["info", "--format", "{{.HTTPSProxy}} {{.NoProxy}}"], docker);
        var logged = await Eventually.WaitForAsync(() => Task.FromResult(syslog.Messages), m => m.Any(l => l.Contains("serving the Docker API", StringComparison.Ordinal)), TimeSpan.FromSeconds(30));

        // Containers through the appliance: the image from the registry (this host's, 10.0.2.2 to the appliance), a ContainerVM
        // whose channel reaches the appliance's address, a published port on that address.
        var pull = await Command.RunAsync("docker", ["pull", "busybox"], docker, timeout: TimeSpan.FromMinutes(2));
        var hi = await Command.RunAsync("docker", ["run", "--rm", "busybox", "echo", "hi"], docker, timeout: TimeSpan.FromMinutes(2));
        var provisioning = await Command.RunAsync("docker", ["info", "--format", "{{json .DriverStatus}}"], docker);
        var web = await Command.RunAsync("docker", ["run", "-d", "--name", "web", "-p", $"{Published}:{served}", "busybox", "sh", "-c", $"mkdir -p /w && echo up > /w/index.html && exec httpd -f -p {served} -h /w"], docker, timeout: TimeSpan.FromMinutes(2));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        async Task<string?> PageAsync()
        {
            try
            {
                return await http.GetStringAsync($"http://{Address}:{Published}/index.html");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return null;
            }
        }

        var before = await Eventually.WaitForAsync(PageAsync, p => p is not null, TimeSpan.FromSeconds(30));

        // Configure: the pool's limit changes, the appliance restarts with its config disk written again.
        var configure = await VicMachineAsync("configure", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password,
            "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0", "--name", Name, "--memory", "3000", "--timeout", "4m0s");
        var limit = await session.ReadLimitsAsync(pool!, CancellationToken.None);
        var configured = await Command.RunAsync("docker", ["info", "--format", "{{.Name}}"], docker);

        // Upgrade: the appliance is powered off, gets its ISO and config disk again, and comes back with its data disk's state.
        clock.Restart();
        var upgrade = await VicMachineAsync("upgrade", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password,
            "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0", "--name", Name, "--iso", Iso, "--timeout", "4m0s");
        var upgraded = clock.Elapsed;
        var consoleAfterUpgrade = guests.Output;
        var kept = await Command.RunAsync("docker", ["volume", "ls", "--format", "{{.Name}}"], docker);
        var after = await Eventually.WaitForAsync(PageAsync, p => p is not null, TimeSpan.FromSeconds(60));
        var state = await Command.RunAsync("docker", ["inspect", "-f", "{{.State.Status}}", "web"], docker);
        var inspect = await VicMachineAsync("inspect", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password,
            "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0", "--name", Name, "--cert-path", certs);
        var bundle = _home.Combine("bundle.zip");
        var debug = await VicMachineAsync("debug", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password,
            "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0", "--name", Name, "--cert-path", certs, "--bundle", bundle);
        var delete = await VicMachineAsync("delete", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password,
            "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0", "--name", Name, "--cert-path", certs, "--force");
        var afterDelete = await Command.RunAsync("docker", ["version", "--format", "{{.Server.Os}}"], docker, timeout: TimeSpan.FromSeconds(30));

        Assert.True(version.ExitCode == 0, $"{version}\nguests:\n{guests.Output}");
        Assert.Equal("linux\n", version.StandardOutput);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.StartsWith($"{Name} ", info.StandardOutput, StringComparison.Ordinal);
        Assert.True(volume.ExitCode == 0, volume.ToString());
        // The proxy reached the endpoint by its environment (proxy.env, root's alone), not its arguments.
        Assert.True(proxies.StandardOutput == "http://xxxxx:xxxxx@10.0.2.2:3128 10.0.2.2\n", $"docker info's proxies: {proxies}");
        Assert.Contains(logged, l => l.StartsWith($"30 {Name} vch-endpoint", StringComparison.Ordinal) && l.Contains("serving the Docker API", StringComparison.Ordinal));
        // Plain HTTP to the TLS endpoint: refused, the server's side never shown.
        Assert.NotEqual(0, untrusted.ExitCode);
        Assert.DoesNotContain("Server:", untrusted.StandardOutput, StringComparison.Ordinal);
        Assert.True(pull.ExitCode == 0, $"{pull}\nguests:\n{guests.Output}");
        Assert.True(hi.ExitCode == 0, $"{hi}\nguests:\n{guests.Output}");
        Assert.True(hi.StandardOutput == "hi\n", $"run echo hi: {hi}\nguests:\n{guests.Output}");
        Assert.Contains($"instant clone of {Name}-parent", provisioning.StandardOutput, StringComparison.Ordinal);
        Assert.True(web.ExitCode == 0, web.ToString());
        Assert.True(before == "up\n", $"the published port before the upgrade: {before ?? "no answer"}\nguests:\n{guests.Output}");
        Assert.True(configure.ExitCode == 0, $"{configure}\nguests:\n{guests.Output}");
        Assert.Contains("config disk", configure.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(3000, limit.MemoryMb);
        Assert.True(configured.StandardOutput == $"{Name}\n", $"docker info after configure: {configured}\n{configure}");
        Assert.True(upgrade.ExitCode == 0, $"{upgrade}\nguests:\n{guests.Output}");
        // The container kept running across the upgrade, its port bound again by the new endpoint.
        Assert.True(after == "up\n", $"the published port after the upgrade: {after ?? "no answer"}\nguests:\n{guests.Output}");
        Assert.True(state.StandardOutput == "running\n", $"the container after the upgrade: {state}");
        // Shut down, not pulled: the endpoint was asked to stop (vicadmin, with the client certificate), and the appliance unmounted its data disk and powered itself off.
        Assert.Contains("appliance VM vcha1 shut down: its endpoint stopped and it powered itself off", upgrade.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("appliance VM vcha1 shut down: its endpoint stopped and it powered itself off", configure.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("vic-appliance: the endpoint stopped; powering off", consoleAfterUpgrade, StringComparison.Ordinal);
        Assert.Contains("appliance.iso (", upgrade.StandardOutput, StringComparison.Ordinal); // "uploaded .../appliance.iso (69 MiB)"
        Assert.True(kept.StandardOutput == "kept\n", $"volumes after the upgrade: {kept}\n{upgrade}");
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        Assert.Contains($"tcp://{Address}:2376", inspect.StandardOutput, StringComparison.Ordinal);
        // debug: the appliance's own log, through vicadmin with vic-machine's client certificate, and its bundle.
        Assert.True(debug.ExitCode == 0, debug.ToString());
        Assert.Contains("serving the Docker API on", debug.StandardOutput, StringComparison.Ordinal);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(bundle))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "endpoint.log");
            Assert.Contains(zip.Entries, e => e.FullName.StartsWith("containers/web-", StringComparison.Ordinal) && e.FullName.EndsWith("/output.log", StringComparison.Ordinal));
        }

        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Null(await session.FindByInventoryPathAsync($"DC0/host/DC0_C0/Resources/{Name}", CancellationToken.None));
        Assert.DoesNotContain((await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None)).Select(v => v.Text("name")), n => n == Name);
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.DatastoreDirectory, Name)));
        Assert.NotEqual(0, afterDelete.ExitCode);
        // The simulator kills the appliance's QEMU when it sees the VM gone, a moment after delete returns.
        Assert.Null(await Eventually.WaitForAsync(PageAsync, p => p is null, TimeSpan.FromSeconds(30)));
        Console.WriteLine($"appliance: vic-machine create to the Docker API answering {created.TotalSeconds:0.0} s, upgrade to answering again {upgraded.TotalSeconds:0.0} s");
    }

    private static Task<CommandResult> VicMachineAsync(params string[] arguments) =>
        Command.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "vic-machine.dll"), .. arguments], timeout: TimeSpan.FromMinutes(9));
}

/// <summary>The appliance boots under TCG: it takes the machine's cores, so it runs alone.</summary>
[CollectionDefinition(nameof(ApplianceTests), DisableParallelization = true)]
public sealed class ApplianceCollection;
