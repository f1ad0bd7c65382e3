using Microsoft.Extensions.Logging.Abstractions;
using Vic.TestSupport;
using Vic.Vim25;

namespace Vic.Machine.Tests;

public sealed class VcsimFixture : IAsyncLifetime
{
    public Vcsim Server { get; private set; } = null!;

    public VimSessionConfig Session => new(Server.Sdk, Vcsim.User, Vcsim.Password, Server.Thumbprint);

    public async Task InitializeAsync()
    {
        await BootImages.EnsureBuiltAsync();
        Server = await Vcsim.StartAsync();
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>vic-machine as operators run it (its own process), against vcsim; results read through the vSphere API.</summary>
public sealed class VicMachineTests(VcsimFixture fixture) : IClassFixture<VcsimFixture>, IDisposable
{
    private static readonly string Iso = Repository.Combine("iso", "out", "bootstrap.iso");

    private readonly TempDirectory _home = new("vic-machine");

    public void Dispose() => _home.Dispose();

    private string[] Target => ["--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", fixture.Server.Thumbprint, "--compute-resource", "DC0_C0"];

    private Task<CommandResult> VicMachineAsync(params string[] arguments) =>
        Command.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "vic-machine.dll"), .. arguments], timeout: TimeSpan.FromMinutes(3));

    private Task<VimSession> ConnectAsync() => VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);

    [Fact]
    public async Task CreateInspectLsConfigureAndDeleteAVchWithItsConfigFile()
    {
        var certs = _home.Combine("vch1");
        var port = EndpointProcess.FreePort();
        File.WriteAllText(_home.Combine("vch.yaml"), $"""
            name: vch1
            image-store: {fixture.Server.Datastore}
            cpu: 2000
            memory: 2048
            cert-path: {certs}
            endpoint-address: 127.0.0.1:{port}
            channel-address: 127.0.0.1
            bridge-network: VM Network
            public-network: VM Network
            container-network:
              - VM Network:lan
            container-network-gateway:
              - VM Network:10.9.0.1/24
            iso: {Iso}
            local-endpoint: true
            registry-mirror:
              - http://127.0.0.1:5999
            """);

        var create = await VicMachineAsync(["create", "--local-endpoint", .. Target, "--config", _home.Combine("vch.yaml")]);
        Assert.True(create.ExitCode == 0, create.ToString());
        await using var session = await ConnectAsync();
        var pool = await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch1", CancellationToken.None);
        var limits = await session.ReadLimitsAsync(pool!, CancellationToken.None);
        var uploaded = new FileInfo(Path.Combine(fixture.Server.DatastoreDirectory, "vch1", "bootstrap.iso")).Length;
        var recorded = File.ReadAllText(Path.Combine(fixture.Server.DatastoreDirectory, "vch1", "vch.yaml"));
        var info = await Command.RunAsync("docker", ["--tlsverify", "--tlscacert", Path.Combine(certs, "ca.pem"), "--tlscert", Path.Combine(certs, "cert.pem"), "--tlskey", Path.Combine(certs, "key.pem"), "-H", $"tcp://127.0.0.1:{port}", "info", "-f", "{{.Name}} {{json .DriverStatus}} {{json .RegistryConfig.Mirrors}}"]);
        var networks = await Command.RunAsync("docker", ["--tlsverify", "--tlscacert", Path.Combine(certs, "ca.pem"), "--tlscert", Path.Combine(certs, "cert.pem"), "--tlskey", Path.Combine(certs, "key.pem"), "-H", $"tcp://127.0.0.1:{port}", "network", "ls", "--format", "{{.Name}}:{{.Driver}}"]);
        var withoutCertificate = await Command.RunAsync("docker", ["-H", $"tcp://127.0.0.1:{port}", "version"]);
        var listed = await VicMachineAsync(["ls", .. Target]);
        var inspect = await VicMachineAsync(["inspect", .. Target, "--name", "vch1"]);
        var configure = await VicMachineAsync(["configure", .. Target, "--name", "vch1", "--memory", "3072"]);
        var reconfigured = await session.ReadLimitsAsync(pool!, CancellationToken.None);
        var delete = await VicMachineAsync(["delete", .. Target, "--name", "vch1"]);
        var poolAfter = await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch1", CancellationToken.None);

        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.Contains($"export DOCKER_HOST=tcp://127.0.0.1:{port}", create.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"export DOCKER_CERT_PATH={certs}", create.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(new PoolLimits(2000, 2048), limits);
        Assert.Equal(new FileInfo(Iso).Length, uploaded);
        Assert.Contains("memory: 2048", recorded, StringComparison.Ordinal);
        Assert.DoesNotContain(Vcsim.Password, recorded, StringComparison.Ordinal);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("vch1 ", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("\"vsphere\"", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:5999/", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("lan:external", networks.StandardOutput, StringComparison.Ordinal);
        Assert.NotEqual(0, withoutCertificate.ExitCode);
        var rows = listed.StandardOutput.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^ID +PATH +NAME +VERSION +UPGRADE STATUS$", rows[0]);
        Assert.Matches(@"^resgroup-\d+ +/DC0/host/DC0_C0/Resources +vch1 +v\d+\.\d+\.\d+-[0-9a-f]+ +Up to date$", Assert.Single(rows[1..]));
        Assert.Contains("CPU 2000 MHz, memory 2048 MB", inspect.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"running on 127.0.0.1:{port}", inspect.StandardOutput, StringComparison.Ordinal);
        Assert.True(configure.ExitCode == 0, configure.ToString());
        Assert.Equal(new PoolLimits(2000, 3072), reconfigured);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Null(poolAfter);
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.DatastoreDirectory, "vch1")));
        Assert.False(Directory.Exists(certs));
        Assert.Single((await VicMachineAsync(["ls", .. Target])).StandardOutput.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task NothingIsChangedWhenTheSettingsAreWrongAndAFailedCreateIsRolledBack()
    {
        var wrongCluster = await VicMachineAsync(["create", "--local-endpoint", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", fixture.Server.Thumbprint,
            "--compute-resource", "nosuch", "--image-store", fixture.Server.Datastore, "--name", "vch2", "--cert-path", _home.Combine("vch2"), "--iso", Iso, "--channel-address", "127.0.0.1"]);
        var wrongPassword = await VicMachineAsync(["create", "--local-endpoint", "--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", "nope", "--thumbprint", fixture.Server.Thumbprint,
            "--compute-resource", "DC0_C0", "--image-store", fixture.Server.Datastore, "--name", "vch2", "--cert-path", _home.Combine("vch2"), "--iso", Iso, "--channel-address", "127.0.0.1"]);

        var wrongPortGroup = await VicMachineAsync(["create", "--local-endpoint", .. Target, "--image-store", fixture.Server.Datastore, "--name", "vch2", "--cert-path", _home.Combine("vch2"), "--iso", Iso, "--channel-address", "127.0.0.1", "--bridge-network", "nosuch"]);

        // The endpoint cannot listen where something already does: every step before it is undone.
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var busyPort = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var rolledBack = await VicMachineAsync(["create", "--local-endpoint", .. Target, "--image-store", fixture.Server.Datastore, "--name", "vch3", "--cert-path", _home.Combine("vch3"), "--iso", Iso,
            "--channel-address", "127.0.0.1", "--endpoint-address", $"127.0.0.1:{busyPort}"]);
        await using var session = await ConnectAsync();

        Assert.True(wrongCluster.ExitCode == 1, wrongCluster.ToString());
        Assert.Contains("--compute-resource nosuch: no such cluster or host in DC0", wrongCluster.StandardError, StringComparison.Ordinal);
        Assert.True(wrongPassword.ExitCode == 1, wrongPassword.ToString());
        Assert.Contains("InvalidLogin", wrongPassword.StandardError, StringComparison.Ordinal);
        Assert.True(wrongPortGroup.ExitCode == 1, wrongPortGroup.ToString());
        Assert.Contains("--bridge-network nosuch: no such port group in DC0", wrongPortGroup.StandardError, StringComparison.Ordinal);
        Assert.True(rolledBack.ExitCode == 1, rolledBack.ToString());
        Assert.Contains("rolled back the resource pool", rolledBack.StandardOutput, StringComparison.Ordinal);
        Assert.Null(await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch2", CancellationToken.None));
        Assert.Null(await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch3", CancellationToken.None));
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.DatastoreDirectory, "vch3")));
        Assert.False(Directory.Exists(_home.Combine("vch3")));
        Assert.Empty((await Command.RunAsync("pgrep", ["-f", $"vch-endpoint.dll -H tcp://127.0.0.1:{busyPort}"])).StandardOutput);
    }

    [Fact]
    public async Task ComputeResourceTakesEveryFormVicTookAndLsNeedsNone()
    {
        string[] target = ["--target", fixture.Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", fixture.Server.Thumbprint];
        await using var session = await ConnectAsync();
        var root = await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources", CancellationToken.None);
        var team = await session.CreateResourcePoolAsync(root!, "team", new PoolLimits(null, null), CancellationToken.None);
        try
        {
            var certs = _home.Combine("vch4");
            var port = EndpointProcess.FreePort();

            // cluster/pool: the VCH's pool goes in that pool.
            var create = await VicMachineAsync(["create", "--local-endpoint", .. target, "--compute-resource", "DC0_C0/team", "--image-store", fixture.Server.Datastore, "--name", "vch4", "--tls-cert-path", certs,
                "--bootstrap-iso", Iso, "--channel-address", "127.0.0.1", "--endpoint-address", $"127.0.0.1:{port}", "--memory", "1024"]);
            Assert.True(create.ExitCode == 0, create.ToString());
            Assert.NotNull(await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/team/vch4", CancellationToken.None));
            Assert.Null(await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch4", CancellationToken.None));

            // The endpoint found the same pool: docker sees its limits, not an error.
            var info = await Command.RunAsync("docker", ["--tlsverify", "--tlscacert", Path.Combine(certs, "ca.pem"), "--tlscert", Path.Combine(certs, "cert.pem"), "--tlskey", Path.Combine(certs, "key.pem"), "-H", $"tcp://127.0.0.1:{port}", "info", "-f", "{{.Name}}"]);
            Assert.True(info.ExitCode == 0, info.ToString());
            Assert.Equal("vch4", info.StandardOutput.Trim());

            foreach (var form in new[] { "/DC0/host/DC0_C0/Resources/team", "DC0/host/DC0_C0/Resources/team", "DC0_C0/Resources/team" })
            {
                var listed = await VicMachineAsync(["ls", .. target, "--compute-resource", form]);
                Assert.True(listed.ExitCode == 0, $"{form}: {listed}");
                Assert.Contains("vch4", listed.StandardOutput, StringComparison.Ordinal);
            }

            var everywhere = await VicMachineAsync(["ls", .. target]);
            Assert.True(everywhere.ExitCode == 0, everywhere.ToString());
            Assert.Contains("vch4", everywhere.StandardOutput, StringComparison.Ordinal);

            // VIC's other ways to name the target: user:password@host/datacenter, and its environment variables.
            var inUrl = await VicMachineAsync(["ls", "--target", $"{Vcsim.User}:{Uri.EscapeDataString(Vcsim.Password)}@{fixture.Server.Sdk.Authority}/DC0", "--thumbprint", fixture.Server.Thumbprint]);
            Assert.True(inUrl.ExitCode == 0, inUrl.ToString());
            Assert.Contains("vch4", inUrl.StandardOutput, StringComparison.Ordinal);
            var fromEnvironment = await Command.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "vic-machine.dll"), "ls"], new Dictionary<string, string>
            {
                ["VIC_MACHINE_TARGET"] = fixture.Server.Sdk.Authority,
                ["VIC_MACHINE_USER"] = Vcsim.User,
                ["VIC_MACHINE_PASSWORD"] = Vcsim.Password,
                ["VIC_MACHINE_THUMBPRINT"] = fixture.Server.Thumbprint,
            }, TimeSpan.FromMinutes(3));
            Assert.True(fromEnvironment.ExitCode == 0, fromEnvironment.ToString());
            Assert.Contains("vch4", fromEnvironment.StandardOutput, StringComparison.Ordinal);
            var nested = await VicMachineAsync(["ls", "--target", $"{fixture.Server.Sdk.Authority}/DC0/host", "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", fixture.Server.Thumbprint]);
            Assert.True(nested.ExitCode == 1, nested.ToString());
            Assert.Contains("should only name a datacenter", nested.StandardError, StringComparison.Ordinal);
            var atTheRoot = await VicMachineAsync(["ls", .. target, "--compute-resource", "/DC0/host/DC0_C0"]);
            Assert.DoesNotContain("vch4", atTheRoot.StandardOutput, StringComparison.Ordinal);
            var noSuchPool = await VicMachineAsync(["ls", .. target, "--compute-resource", "DC0_C0/nosuch"]);
            Assert.True(noSuchPool.ExitCode == 1, noSuchPool.ToString());
            Assert.Contains("no resource pool nosuch in DC0/host/DC0_C0", noSuchPool.StandardError, StringComparison.Ordinal);

            var delete = await VicMachineAsync(["delete", .. target, "--compute-resource", "/DC0/host/DC0_C0/Resources/team", "--name", "vch4"]);
            Assert.True(delete.ExitCode == 0, delete.ToString());
            Assert.Null(await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/team/vch4", CancellationToken.None));
        }
        finally
        {
            await session.DestroyAsync(team, CancellationToken.None);
        }
    }

    /// <summary>
    /// An upgrade brings a new ISO: the VCH's parent and template ran the old one and every new
    /// ContainerVM comes from them, so they go while the endpoint is down; a container's VM stays.
    /// </summary>
    [Fact]
    public async Task UpgradeRetiresTheParentAndTemplateOfTheOldIsoAndKeepsContainerVms()
    {
        var certs = _home.Combine("vch6");
        var port = EndpointProcess.FreePort();
        var create = await VicMachineAsync(["create", "--local-endpoint", .. Target, "--image-store", fixture.Server.Datastore, "--name", "vch6", "--cert-path", certs, "--iso", Iso,
            "--channel-address", "127.0.0.1", "--endpoint-address", $"127.0.0.1:{port}", "--no-tlsverify"]);
        Assert.True(create.ExitCode == 0, create.ToString());
        await using var session = await ConnectAsync();
        var pool = (await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch6", CancellationToken.None))!;
        var folder = (await session.FindByInventoryPathAsync("DC0/vm", CancellationToken.None))!;
        foreach (var name in (string[])["vch6-parent", "vch6-template", "web-0123456789ab"])
        {
            var vm = await session.CreateVmAsync(folder, pool, new Vic.Vim25.VmConfigSpec { Name = name, GuestId = "otherGuest64", VmPathName = $"[{fixture.Server.Datastore}] vch6/{name}", Cpus = 1, MemoryMb = 256 }, CancellationToken.None);
            if (name == "vch6-parent")
            {
                await session.PowerOnVmAsync(vm, CancellationToken.None);
            }
        }

        var upgrade = await VicMachineAsync(["upgrade", .. Target, "--name", "vch6", "--iso", Iso]);
        var left = (await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None, pool)).Select(v => v.Text("name")).ToList();
        var info = await Command.RunAsync("docker", ["-H", $"tcp://127.0.0.1:{port}", "info", "-f", "{{.Name}}"], new Dictionary<string, string> { ["DOCKER_TLS"] = "1", ["DOCKER_CERT_PATH"] = certs });
        var delete = await VicMachineAsync(["delete", .. Target, "--name", "vch6", "--force"]);

        Assert.True(upgrade.ExitCode == 0, upgrade.ToString());
        Assert.Contains("removed vch6-parent, made from the old ISO", upgrade.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("removed vch6-template, made from the old ISO", upgrade.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(["web-0123456789ab"], left);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Equal("vch6\n", info.StandardOutput);
        Assert.True(delete.ExitCode == 0, delete.ToString());
    }

    /// <summary>
    /// An admin's whole day with a VCH on vSphere: create, a container with a published port,
    /// upgrade (the container keeps running and its port answers again), delete (nothing of the VCH
    /// is left, as vSphere itself tells). The guests are tethers on this host.
    /// </summary>
    [Fact]
    public async Task APublishedPortAnswersAcrossAnUpgradeAndDeleteLeavesNothingInVsphere()
    {
        var certs = _home.Combine("vch7");
        var (apiPort, port, served) = (EndpointProcess.FreePort(), EndpointProcess.FreePort(), EndpointProcess.FreePort());
        await using var registry = await LocalRegistry.StartAsync();
        await registry.SeedBusyboxAsync();
        await using var guests = await SimulatedGuests.StartAsync(fixture.Session, "vch7");
        var create = await VicMachineAsync(["create", "--local-endpoint", .. Target, "--image-store", fixture.Server.Datastore, "--name", "vch7", "--cert-path", certs, "--iso", Iso,
            "--channel-address", "127.0.0.1", "--endpoint-address", $"127.0.0.1:{apiPort}", "--no-tlsverify", "--bridge-network", "VM Network", "--public-network", "VM Network",
            "--registry-mirror", $"http://{registry.Host}"]);
        Assert.True(create.ExitCode == 0, create.ToString());
        var tls = new Dictionary<string, string> { ["DOCKER_TLS"] = "1", ["DOCKER_CERT_PATH"] = certs };
        async Task<CommandResult> DockerAsync(params string[] arguments)
        {
            var result = await Command.RunAsync("docker", ["-H", $"tcp://127.0.0.1:{apiPort}", .. arguments], tls, timeout: TimeSpan.FromMinutes(2));
            Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nguests:\n{guests.Output}");
            return result;
        }

        await DockerAsync("pull", "busybox");
        await DockerAsync("run", "-d", "--name", "web", "-p", $"127.0.0.1:{port}:{served}", "busybox", "sh", "-c", $"mkdir -p /w && echo up > /w/index.html && exec httpd -f -p {served} -h /w");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        async Task<string?> PageAsync()
        {
            try
            {
                return await http.GetStringAsync($"http://127.0.0.1:{port}/index.html");
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }

        var before = await Eventually.WaitForAsync(PageAsync, p => p is not null, TimeSpan.FromSeconds(30));
        var upgrade = await VicMachineAsync(["upgrade", .. Target, "--name", "vch7", "--iso", Iso]);
        var after = await Eventually.WaitForAsync(PageAsync, p => p is not null, TimeSpan.FromSeconds(60));
        var state = (await DockerAsync("inspect", "-f", "{{.State.Status}}", "web")).StandardOutput.Trim();
        var delete = await VicMachineAsync(["delete", .. Target, "--name", "vch7", "--force"]);
        await using var session = await ConnectAsync();
        var pool = await session.FindByInventoryPathAsync("DC0/host/DC0_C0/Resources/vch7", CancellationToken.None);
        var vms = (await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None)).Select(v => v.Text("name") ?? "").ToList();

        Assert.Equal("up\n", before);
        Assert.True(upgrade.ExitCode == 0, upgrade.ToString());
        Assert.Equal("up\n", after);
        Assert.Equal("running", state);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Null(pool);
        Assert.DoesNotContain(vms, n => n.StartsWith("vch7-", StringComparison.Ordinal) || n.StartsWith("web-", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(fixture.Server.DatastoreDirectory, "vch7")));
        Assert.Null(await PageAsync());
    }

    [Fact]
    public async Task ALocalVchIsCreatedAndDeletedWithTheSameCommand()
    {
        var certs = _home.Combine("local1");
        var port = EndpointProcess.FreePort();

        var create = await VicMachineAsync(["create", "--target", "local", "--name", "local1", "--cert-path", certs, "--endpoint-address", $"127.0.0.1:{port}", "--iso", Iso, "--memory", "2048"]);
        var info = await Command.RunAsync("docker", ["--tlsverify", "--tlscacert", Path.Combine(certs, "ca.pem"), "--tlscert", Path.Combine(certs, "cert.pem"), "--tlskey", Path.Combine(certs, "key.pem"), "-H", $"tcp://127.0.0.1:{port}", "info", "-f", "{{.Name}} {{json .DriverStatus}}"]);
        var delete = await VicMachineAsync(["delete", "--target", "local", "--name", "local1", "--cert-path", certs]);

        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("local1 ", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("\"qemu\"", info.StandardOutput, StringComparison.Ordinal);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.False(Directory.Exists(certs));
    }
}
