using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Networks;
using Vic.TestSupport;
using Vic.Vim25;
using Vic.Vim25.Soap;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// An endpoint with the vSphere backend against vcsim, its ContainerVMs' guests played by the real
/// tether on this host, driven by the docker CLI; what happened is read back through the vSphere API.
/// </summary>
public class VsphereVchFixture : IAsyncLifetime, IDisposable
{
    public const string VchName = "vch-e2e";

    private readonly TempDirectory _home = new("vsphere-vch");
    private LocalRegistry _registry = null!;

    public Vcsim Server { get; private set; } = null!;

    public SimulatedGuests Guests { get; private set; } = null!;

    public EndpointProcess Endpoint { get; private set; } = null!;

    public VimSessionConfig Session => new(Server.Sdk, Vcsim.User, Vcsim.Password, Server.Thumbprint);

    /// <summary>Whether the guests are real VMs (QEMU with the vSphere hardware) rather than a tether on this host.</summary>
    protected virtual bool RealVms => false;

    public string Host => $"tcp://127.0.0.1:{Endpoint.Port}";

    /// <summary>vicadmin's port; its logins are vSphere's accounts.</summary>
    public int AdminPort { get; } = EndpointProcess.FreePort();

    public async Task InitializeAsync()
    {
        Server = await Vcsim.StartAsync();
        Guests = await SimulatedGuests.StartAsync(Session, VchName, RealVms);
        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
        Endpoint = await StartEndpointAsync(EndpointProcess.FreePort(), "data");
        await DockerAsync("pull", "busybox");
    }

    /// <summary>SIGKILL, then a new endpoint over an empty data directory: all it has is vSphere's inventory.</summary>
    public async Task ReplaceWithAnEmptyEndpointAsync()
    {
        await Endpoint.KillAsync();
        await Endpoint.DisposeAsync();
        Endpoint = await StartEndpointAsync(Endpoint.Port, "data-" + Guid.NewGuid().ToString("N")[..8]);
    }

    private Task<EndpointProcess> StartEndpointAsync(int port, string dataDirectory) =>
        EndpointProcess.StartAsync(port, [
            "-H", $"tcp://127.0.0.1:{port}", "--name", VchName, "--data-dir", _home.Combine(dataDirectory), "--registry-mirror", $"http://{_registry.Host}",
            "--backend", "vsphere", "--target", Server.Sdk.ToString(), "--user", Vcsim.User, "--password", Vcsim.Password, "--thumbprint", Server.Thumbprint,
            "--datacenter", "DC0", "--compute-resource", "DC0/host/DC0_C0", "--image-store", Server.Datastore, "--channel-address", "127.0.0.1",
            "--pool-cpu", "4", "--pool-memory", "4g", "--bridge-network", "VM Network", "--public-network", "VM Network",
            "--container-network", "VM Network:lan", "--container-network-gateway", "VM Network:10.9.0.1/24", "--container-network-ip-range", "VM Network:10.9.0.128/25",
            "--container-network-dns", "VM Network:10.9.0.2", "--vicadmin", $"127.0.0.1:{AdminPort}",
            "--public-network-gateway", "10.20.0.1/24", "--public-network-ip-range", "10.20.0.64/26", "--public-network-dns", "10.20.0.2",
        ]);

    /// <summary>The MACs of the container's VM's NICs, in order, as vSphere has them.</summary>
    public async Task<string[]> VmMacsAsync(string container)
    {
        var id = (await DockerAsync("inspect", "-f", "{{.Id}}", container)).StandardOutput.Trim();
        await using var session = await VimSession.ConnectAsync(Session, NullLogger.Instance, CancellationToken.None);
        var vm = (await session.ListAsync("VirtualMachine", ["config.extraConfig"], CancellationToken.None))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties["config.extraConfig"]).GetValueOrDefault("vic.vm.id") == id);
        return [.. (await session.ReadDevicesAsync(vm.Obj, CancellationToken.None)).Where(d => d.Type == "VirtualVmxnet3").OrderBy(d => d.Key).Select(d => d.Xml.Element(VimXml.Vim + "macAddress")!.Value)];
    }

    public async Task<CommandResult> DockerAsync(params string[] arguments)
    {
        var result = await Command.DockerAsync(Host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nendpoint:\n{Endpoint.Output}\nguests:\n{Guests.Output}");
        return result;
    }

    public async Task DisposeAsync()
    {
        await Endpoint.DisposeAsync();
        await Guests.DisposeAsync();
        await _registry.DisposeAsync();
        await Server.DisposeAsync();
    }

    public void Dispose()
    {
        _home.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The same VCH with its ContainerVMs' guests booted for real from the ISO, on the hardware vSphere gives them.</summary>
public sealed class VsphereRealGuestFixture : VsphereVchFixture
{
    protected override bool RealVms => true;
}

/// <summary>
/// The vSphere guest path end to end: the bootstrap ISO boots with its channel on COM1 over the
/// network-backed serial port, finds its disks on the paravirtual SCSI controller and its public
/// address on eth1.
/// </summary>
[Collection(nameof(VsphereRealGuestTests))]
public sealed class VsphereRealGuestTests(VsphereRealGuestFixture fixture) : IClassFixture<VsphereRealGuestFixture>
{
    [Fact]
    public async Task ARealGuestBootsTheIsoAndRunsTheContainerFromItsScsiDisks()
    {
        var run = await fixture.DockerAsync("run", "--name", "iso-guest", "--hostname", "from-iso", "busybox", "sh", "-c", "echo hi; hostname; ls /dev/sd* | wc -l; grep -c ttyS0 /proc/cmdline; ip -4 addr show eth1 | grep -c 'inet 10.20.0.'; ip route | grep -c 'default via 10.20.0.1'");
        await fixture.DockerAsync("run", "-d", "--name", "iso-sleeper", "busybox", "sleep", "600");
        var exec = await fixture.DockerAsync("exec", "iso-sleeper", "echo", "exec-ok");
        var guestMacs = (await fixture.DockerAsync("exec", "iso-sleeper", "cat", "/sys/class/net/eth0/address", "/sys/class/net/eth1/address")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var inspected = (await fixture.DockerAsync("inspect", "-f", "{{.NetworkSettings.MacAddress}}", "iso-sleeper")).StandardOutput.Trim();
        var vmMacs = await fixture.VmMacsAsync("iso-sleeper");
        var otherVmMacs = await fixture.VmMacsAsync("iso-guest");
        await fixture.DockerAsync("rm", "-f", "iso-guest", "iso-sleeper");

        Assert.Equal("hi\nfrom-iso\n2\n1\n1\n1\n", run.StandardOutput);
        Assert.Equal("exec-ok\n", exec.StandardOutput);

        // Two instant clones of one parent: each NIC has a MAC of its own, and the guest, vSphere and docker inspect agree on it.
        Assert.Equal(vmMacs, guestMacs);
        Assert.Equal(vmMacs[0], inspected);
        Assert.Empty(vmMacs.Intersect(otherVmMacs));
        Assert.All(vmMacs, mac => Assert.True(Vic.PortLayer.Compute.VmwareMacs.IsManual(mac), mac));
    }

    /// <summary>
    /// A published port of a real guest: connections reach the container's bridge address in the VM
    /// (a server on the guest's loopback only is not published, as on dockerd), over the serial channel.
    /// </summary>
    [Fact]
    public async Task APublishedPortReachesTheServerOnTheContainersAddressInTheGuest()
    {
        var (port, loopbackOnly) = (EndpointProcess.FreePort(), EndpointProcess.FreePort());
        await fixture.DockerAsync("run", "-d", "--name", "guest-web", "-p", $"127.0.0.1:{port}:80", "-p", $"127.0.0.1:{loopbackOnly}:81", "busybox", "sh", "-c",
            "mkdir -p /srv && echo from-the-guest > /srv/index.html && httpd -p 127.0.0.1:81 -h /srv && exec httpd -f -p 80 -h /srv");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var page = await Eventually.WaitForAsync(async () => await VsphereVchTests.TryGetAsync(http, $"http://127.0.0.1:{port}/"), p => p is not null, TimeSpan.FromSeconds(60));
        var second = await http.GetStringAsync($"http://127.0.0.1:{port}/index.html");
        var notPublished = await VsphereVchTests.TryGetAsync(http, $"http://127.0.0.1:{loopbackOnly}/");
        await fixture.DockerAsync("rm", "-f", "guest-web");

        Assert.Equal("from-the-guest\n", page);
        Assert.Equal("from-the-guest\n", second);
        Assert.Null(notPublished);
    }
}

/// <summary>Booting the ISO under TCG takes the machine's two cores: these run alone.</summary>
[CollectionDefinition(nameof(VsphereRealGuestTests), DisableParallelization = true)]
public sealed class VsphereRealGuestCollection;

public sealed class VsphereVchTests(VsphereVchFixture fixture) : IClassFixture<VsphereVchFixture>
{
    [Fact]
    public async Task DockerRunPrintsHiAndTheContainerIsAVmInThePool()
    {
        var run = await fixture.DockerAsync("run", "--name", "greeter", "busybox", "echo", "hi");
        var id = (await fixture.DockerAsync("inspect", "-f", "{{.Id}}", "greeter")).StandardOutput.Trim();
        var info = (await fixture.DockerAsync("info", "-f", "{{.Driver}}|{{json .DriverStatus}}")).StandardOutput;

        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var pool = (await session.FindByInventoryPathAsync($"DC0/host/DC0_C0/Resources/{VsphereVchFixture.VchName}", CancellationToken.None))!;
        var vm = (await session.ListAsync("VirtualMachine", ["name", "runtime.powerState", "config.extraConfig"], CancellationToken.None, pool))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties["config.extraConfig"]).GetValueOrDefault("vic.container.id") == id);
        var devices = await session.ReadDevicesAsync(vm.Obj, CancellationToken.None);
        var state = await Eventually.WaitForAsync(async () => (await session.RetrieveOneAsync(vm.Obj, ["runtime.powerState"], CancellationToken.None)).Text("runtime.powerState"), s => s == "poweredOff", TimeSpan.FromSeconds(20));

        await fixture.DockerAsync("rm", "greeter");
        var stillThere = (await session.ListAsync("VirtualMachine", ["name"], CancellationToken.None, pool)).Any(v => v.Obj == vm.Obj);

        Assert.Equal("hi\n", run.StandardOutput);
        Assert.Equal($"greeter-{id[..12]}", vm.Text("name"));
        Assert.Contains(devices, d => d.Type == "VirtualCdrom" && d.FileName == $"[{fixture.Server.Datastore}] {VsphereVchFixture.VchName}/bootstrap.iso");
        // An instant clone of the VCH's parent: its serial port names the VCH's vSPC, which tells the children apart.
        Assert.Contains(devices, d => d.Type == "VirtualSerialPort" && d.ServiceUri == $"vic/{VsphereVchFixture.VchName}" && d.ProxyUri!.StartsWith("telnet://127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains($"instant clone of {VsphereVchFixture.VchName}-parent", info, StringComparison.Ordinal);
        Assert.Equal(2, devices.Count(d => d.Type == "VirtualDisk"));
        Assert.Equal("poweredOff", state);
        Assert.False(stillThere);
        Assert.Equal(["VM Network", "VM Network"], devices.Where(d => d.Type == "VirtualVmxnet3").Select(d => d.Xml.Element(VimXml.Vim + "backing")!.Element(VimXml.Vim + "deviceName")!.Value));
        Assert.Contains("vsphere", info, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>-p</c> on vSphere: the endpoint listens on the host port and carries each connection to the
    /// guest over the container's channel, where the tether connects to the container's port (here,
    /// a tether on this host: the container's port is this host's).
    /// </summary>
    [Fact]
    public async Task PublishedPortsAnswerOnTheEndpointsAddressWithHundredsOfMegabytesAndUdp()
    {
        var (port, served, udpPort, udpServed) = (EndpointProcess.FreePort(), EndpointProcess.FreePort(), EndpointProcess.FreePort(), EndpointProcess.FreePort());
        const long Big = 200_000_000;
        await fixture.DockerAsync("run", "-d", "--name", "site", "-p", $"127.0.0.1:{port}:{served}", "-p", $"127.0.0.1:{udpPort}:{udpServed}/udp", "busybox", "sh", "-c",
            $"mkdir -p /srv && echo served > /srv/index.html && yes | head -c {Big} > /srv/big && exec httpd -f -p {served} -h /srv");
        var listed = (await fixture.DockerAsync("port", "site")).StandardOutput;
        using var echo = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, udpServed));
        var echoing = Task.Run(async () =>
        {
            var datagram = await echo.ReceiveAsync();
            await echo.SendAsync(datagram.Buffer.Reverse().ToArray(), datagram.RemoteEndPoint);
        });

        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(3) };
        var page = await Eventually.WaitForAsync(async () => await TryGetAsync(http, $"http://127.0.0.1:{port}/index.html"), p => p is not null, TimeSpan.FromSeconds(30));
        var again = await http.GetStringAsync($"http://127.0.0.1:{port}/index.html");
        var (length, digest) = await DigestAsync(http, $"http://127.0.0.1:{port}/big");
        using var udp = new System.Net.Sockets.UdpClient();
        await udp.SendAsync("ping"u8.ToArray(), new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, udpPort));
        var answer = await udp.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await echoing;
        await fixture.DockerAsync("stop", "-t", "1", "site");
        var freedByStop = HostPorts.IsFree("tcp", "127.0.0.1", port) && HostPorts.IsFree("udp", "127.0.0.1", udpPort);
        await fixture.DockerAsync("start", "site");
        var afterRestart = await Eventually.WaitForAsync(async () => await TryGetAsync(http, $"http://127.0.0.1:{port}/index.html"), p => p is not null, TimeSpan.FromSeconds(30));
        await fixture.DockerAsync("rm", "-f", "site");
        var afterRemoval = await TryGetAsync(http, $"http://127.0.0.1:{port}/index.html");
        var freedByRemoval = HostPorts.IsFree("tcp", "127.0.0.1", port);

        Assert.Equal("served\n", page);
        Assert.Equal("served\n", again);
        Assert.Equal(Big, length);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(YesBytes(Big))), digest);
        Assert.Equal("gnip", System.Text.Encoding.ASCII.GetString(answer.Buffer));
        Assert.Contains($"{served}/tcp -> 127.0.0.1:{port}", listed, StringComparison.Ordinal);
        Assert.True(freedByStop);
        Assert.Equal("served\n", afterRestart);
        Assert.Null(afterRemoval);
        Assert.True(freedByRemoval);
    }

    /// <summary>
    /// No DNS server answers on vSphere's bridge port group for container names: each container's
    /// /etc/hosts names its peers on user-defined networks, kept up to date as peers come and go.
    /// </summary>
    [Fact]
    public async Task ContainersOnAUserDefinedNetworkFindPeersThatStartAfterThemAndLoseThoseRemoved()
    {
        await fixture.DockerAsync("network", "create", "peers");
        string withLate, withoutLate, lateAddress;
        try
        {
            await fixture.DockerAsync("run", "-d", "--name", "early", "--network", "peers", "busybox", "sleep", "600");
            await fixture.DockerAsync("run", "-d", "--name", "late", "--network", "peers", "--network-alias", "db", "busybox", "sleep", "600");
            lateAddress = (await fixture.DockerAsync("inspect", "-f", "{{.NetworkSettings.Networks.peers.IPAddress}}", "late")).StandardOutput.Trim();
            Task<string> HostsOfEarlyAsync() => fixture.DockerAsync("exec", "early", "cat", "/etc/hosts").ContinueWith(t => t.Result.StandardOutput, TaskScheduler.Default);

            withLate = await Eventually.WaitForAsync(HostsOfEarlyAsync, h => h.Contains("\tlate ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            await fixture.DockerAsync("exec", "early", "sh", "-c", "echo '10.9.9.9 mine' >> /etc/hosts");
            await fixture.DockerAsync("rm", "-f", "late");
            withoutLate = await Eventually.WaitForAsync(HostsOfEarlyAsync, h => !h.Contains("\tlate ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        }
        finally
        {
            // The fixture is shared: what this test made goes whatever it met.
            await Command.DockerAsync(fixture.Host, "rm", "-f", "early", "late");
            await Command.DockerAsync(fixture.Host, "network", "rm", "peers");
        }

        var line = withLate.Split('\n').Single(l => l.Contains("\tlate ", StringComparison.Ordinal));
        Assert.StartsWith(lateAddress + "\tlate ", line, StringComparison.Ordinal);
        Assert.Contains(" db", line, StringComparison.Ordinal);
        Assert.DoesNotContain("\tlate ", withoutLate, StringComparison.Ordinal);
        Assert.Contains("10.9.9.9 mine", withoutLate, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APublishedPortTakenByAnotherProcessFailsTheStartWithDockersWords()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;

        var run = await Command.DockerAsync(fixture.Host, "run", "-d", "--name", "clash", "-p", $"127.0.0.1:{taken}:80", "busybox", "sleep", "60");
        await fixture.DockerAsync("rm", "-f", "clash");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"Bind for 127.0.0.1:{taken} failed: port is already allocated", run.StandardError, StringComparison.Ordinal);
    }

    /// <summary>The page, or null when the connection was refused or closed before an answer.</summary>
    internal static async Task<string?> TryGetAsync(HttpClient http, string url)
    {
        try
        {
            return await http.GetStringAsync(url);
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static async Task<(long Length, string Digest)> DigestAsync(HttpClient http, string url)
    {
        await using var body = await http.GetStreamAsync(url);
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long length = 0;
        int count;
        while ((count = await body.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, count);
            length += count;
        }

        return (length, Convert.ToHexString(sha.GetHashAndReset()));
    }

    /// <summary>What <c>yes | head -c n</c> writes.</summary>
    private static byte[] YesBytes(long count)
    {
        var bytes = new byte[count];
        for (long i = 0; i < count; i++)
        {
            bytes[i] = (byte)(i % 2 == 0 ? 'y' : '\n');
        }

        return bytes;
    }

    [Fact]
    public async Task AMacOutsideVmwaresManualRangeIsRefusedAndOneInsideIsTheNics()
    {
        var refused = await Command.DockerAsync(fixture.Host, "create", "--mac-address", "02:42:ac:11:00:99", "busybox", "true");
        var id = (await fixture.DockerAsync("create", "--name", "with-mac", "--mac-address", "00:50:56:01:02:03", "busybox", "true")).StandardOutput.Trim();
        var assigned = (await fixture.DockerAsync("create", "--name", "assigned-mac", "busybox", "true")).StandardOutput.Trim();
        var inspected = (await fixture.DockerAsync("inspect", "-f", "{{.NetworkSettings.MacAddress}}", "assigned-mac")).StandardOutput.Trim();
        await fixture.DockerAsync("start", "-a", "with-mac");
        var vmMacs = await fixture.VmMacsAsync("with-mac");
        await fixture.DockerAsync("rm", "with-mac", "assigned-mac");

        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("02:42:ac:11:00:99", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("00:50:56:00:00:00 to 00:50:56:3f:ff:ff", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal(64, id.Length);
        Assert.Equal("00:50:56:01:02:03", vmMacs[0]);
        Assert.Equal(Vic.PortLayer.Compute.VmwareMacs.Derive(assigned + "/bridge"), inspected);
    }

    [Fact]
    public async Task VicadminLetsInVsphereAccountsOnlyAndNamesEachContainersVm()
    {
        var id = (await fixture.DockerAsync("run", "-d", "--name", "watched", "busybox", "sleep", "600")).StandardOutput.Trim();
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
            AllowAutoRedirect = false,
        };
        using var admin = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{fixture.AdminPort}/"), Timeout = TimeSpan.FromSeconds(60) };
        Task<HttpResponseMessage> LogInAsync(string password) =>
            admin.PostAsync("/login", new FormUrlEncodedContent([new("user", Vcsim.User), new("password", password)]));

        var refused = await LogInAsync("not-the-vsphere-password");
        var loginPage = await admin.GetStringAsync("/login");
        var accepted = await LogInAsync(Vcsim.Password);
        var rows = System.Text.Json.JsonDocument.Parse(await admin.GetStringAsync("/api/containers")).RootElement;
        var about = await admin.GetStringAsync("/api/vch");
        await fixture.DockerAsync("rm", "-f", "watched");

        Assert.Equal("/login?failed=1", refused.Headers.Location?.OriginalString);
        Assert.Contains("a vSphere account of 127.0.0.1", loginPage, StringComparison.Ordinal);
        Assert.Equal("/", accepted.Headers.Location?.OriginalString);
        var row = rows.EnumerateArray().Single(r => r.GetProperty("id").GetString() == id);
        Assert.Equal($"watched-{id[..12]}", row.GetProperty("vmName").GetString());
        Assert.Equal("running", row.GetProperty("state").GetString());
        Assert.Contains("\"vSphere user\"", about, StringComparison.Ordinal);
        Assert.DoesNotContain(Vcsim.Password, about, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AVmPoweredOffInVcenterShowsAsExited()
    {
        var id = (await fixture.DockerAsync("run", "-d", "--name", "sleeper", "busybox", "sleep", "600")).StandardOutput.Trim();
        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var vm = (await session.ListAsync("VirtualMachine", ["config.extraConfig"], CancellationToken.None))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties["config.extraConfig"]).GetValueOrDefault("vic.container.id") == id);

        await session.PowerOffVmAsync(vm.Obj, CancellationToken.None);
        var status = await Eventually.WaitForAsync(async () => (await fixture.DockerAsync("ps", "-a", "--filter", "name=sleeper", "--format", "{{.State}}")).StandardOutput.Trim(), s => s == "exited", TimeSpan.FromSeconds(30));
        await fixture.DockerAsync("rm", "-f", "sleeper");

        Assert.Equal("exited", status);
    }

    [Fact]
    public async Task AnEndpointWithAnEmptyStoreRebuildsItsContainersFromTheInventory()
    {
        var (port, served) = (EndpointProcess.FreePort(), EndpointProcess.FreePort());
        var id = (await fixture.DockerAsync("run", "-d", "--name", "keeper", "--label", "team=a", "-p", $"127.0.0.1:{port}:{served}", "busybox", "sh", "-c", $"echo up; mkdir -p /k && echo kept > /k/index.html && exec httpd -f -p {served} -h /k")).StandardOutput.Trim();
        await Eventually.WaitForAsync(async () => (await fixture.DockerAsync("logs", "keeper")).StandardOutput, s => s.Contains("up", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // Killed with a connection to the published port open: the tether ends it when the next endpoint says Attach.
        using var held = new System.Net.Sockets.TcpClient();
        await held.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await held.GetStream().WriteAsync("GET /index.html HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
        await fixture.ReplaceWithAnEmptyEndpointAsync();
        var listed = (await fixture.DockerAsync("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Label \"team\"}}")).StandardOutput;
        // Recovery reattaches in the background: the guest's serial line connects again within moments.
        var exec = await Eventually.WaitForAsync(async () => (await Command.DockerAsync(fixture.Host, "exec", "keeper", "echo", "still here")).StandardOutput, s => s.Length > 0, TimeSpan.FromSeconds(30));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var page = await Eventually.WaitForAsync(async () => await TryGetAsync(http, $"http://127.0.0.1:{port}/index.html"), p => p is not null, TimeSpan.FromSeconds(30));
        await fixture.DockerAsync("rm", "-f", "keeper");

        Assert.Contains($"{id[..12]} keeper running a", listed, StringComparison.Ordinal);
        Assert.Equal("still here\n", exec);
        Assert.Equal("kept\n", page);
    }

    [Fact]
    public async Task AVsphereFaultReachesTheDockerUserByName()
    {
        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        // A container on no network is no child of the parent (whose NICs it does not have): a linked clone, so the template is made.
        await fixture.DockerAsync("run", "--rm", "--network", "none", "busybox", "true");
        await fixture.DockerAsync("run", "--rm", "busybox", "true");
        var folder = (await session.FindByInventoryPathAsync("DC0/vm", CancellationToken.None))!;
        var template = (await session.FindByInventoryPathAsync($"DC0/vm/{VsphereVchFixture.VchName}-template", CancellationToken.None))!;
        var parent = (await session.FindByInventoryPathAsync($"DC0/vm/{VsphereVchFixture.VchName}-parent", CancellationToken.None))!;

        // Every way to a ContainerVM refused: the instant clone (the simulator's is a clone of the parent), the linked clone, the cold boot.
        await fixture.Server.DisableMethodAsync("VirtualMachine", parent.Value, "CloneVM_Task");
        await fixture.Server.DisableMethodAsync("VirtualMachine", template.Value, "CloneVM_Task");
        await fixture.Server.DisableMethodAsync("Folder", folder.Value, "CreateVM_Task");
        var refused = await Command.DockerAsync(fixture.Host, "run", "--rm", "busybox", "true");
        await fixture.Server.EnableMethodAsync("Folder", folder.Value, "CreateVM_Task");
        await fixture.Server.EnableMethodAsync("VirtualMachine", template.Value, "CloneVM_Task");
        await fixture.Server.EnableMethodAsync("VirtualMachine", parent.Value, "CloneVM_Task");
        var again = await fixture.DockerAsync("run", "--rm", "busybox", "echo", "back");

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("vSphere fault MethodDisabled", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("back\n", again.StandardOutput);
    }

    [Fact]
    public async Task ContainersGetAPublicAddressItsNameserversAndTheNamesOfTheirPeers()
    {
        await fixture.DockerAsync("network", "create", "appnet");
        var webId = (await fixture.DockerAsync("run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "www", "busybox", "sleep", "600")).StandardOutput.Trim();
        var client = await fixture.DockerAsync("run", "--rm", "--network", "appnet", "busybox", "sh", "-c", "grep -c 'web www' /etc/hosts; grep nameserver /etc/resolv.conf");

        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var vm = (await session.ListAsync("VirtualMachine", ["config.extraConfig"], CancellationToken.None))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties["config.extraConfig"]).GetValueOrDefault("vic.container.id") == webId);
        var address = VirtualMachines.ExtraConfigOf(vm.Properties["config.extraConfig"])["vic.vm.public"];
        await fixture.DockerAsync("rm", "-f", "web");
        await fixture.DockerAsync("network", "rm", "appnet");

        Assert.Equal("1\nnameserver 10.20.0.2\n", client.StandardOutput);
        Assert.Matches(@"^10\.20\.0\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])/24$", address);
    }

    [Fact]
    public async Task AContainerNetworkPutsTheContainersNicStraightOnItsPortGroup()
    {
        var listed = (await fixture.DockerAsync("network", "ls", "--filter", "name=lan", "--format", "{{.Name}} {{.Driver}}")).StandardOutput;
        var id = (await fixture.DockerAsync("run", "-d", "--name", "onlan", "--network", "lan", "busybox", "sleep", "600")).StandardOutput.Trim();
        var address = (await fixture.DockerAsync("inspect", "-f", "{{.NetworkSettings.Networks.lan.IPAddress}} {{.NetworkSettings.Networks.lan.Gateway}}", "onlan")).StandardOutput.Trim();
        var refused = await Command.DockerAsync(fixture.Host, "network", "rm", "lan");

        await using var session = await VimSession.ConnectAsync(fixture.Session, NullLogger.Instance, CancellationToken.None);
        var vm = (await session.ListAsync("VirtualMachine", ["config.extraConfig"], CancellationToken.None))
            .Single(v => VirtualMachines.ExtraConfigOf(v.Properties["config.extraConfig"]).GetValueOrDefault("vic.container.id") == id);
        var nics = (await session.ReadDevicesAsync(vm.Obj, CancellationToken.None)).Where(d => d.Type == "VirtualVmxnet3").ToList();
        await fixture.DockerAsync("rm", "-f", "onlan");

        Assert.Equal("lan external\n", listed);
        Assert.Equal("10.9.0.128 10.9.0.1", address);
        Assert.NotEqual(0, refused.ExitCode);
        var nic = Assert.Single(nics);
        Assert.Equal("VM Network", nic.Xml.Element(VimXml.Vim + "backing")!.Element(VimXml.Vim + "deviceName")!.Value);
        Assert.Matches("^00:50:56:[0-3][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$", nic.Xml.Element(VimXml.Vim + "macAddress")!.Value);
    }
}
