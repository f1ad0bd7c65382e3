using System.Net;
using System.Net.Sockets;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// Bridge networks between real ContainerVMs, with the real docker CLI: names, aliases, published
/// ports from the host, outbound access, connect and disconnect, and a compose project.
/// </summary>
public sealed class NetworkTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>
{
    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task ContainersOnAUserNetworkReachEachOtherByNameAndAlias()
    {
        await Vch.DockerAsync("network", "create", "--subnet", "10.77.0.0/24", "--ip-range", "10.77.0.128/25", "--label", "team=a", "backend");
        await Vch.DockerAsync("run", "-d", "--name", "web", "--network", "backend", "--network-alias", "www", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc");
        await Vch.DockerAsync("run", "-d", "--name", "sink", "--network", "backend", "--ip", "10.77.0.9", "busybox", "nc", "-l", "-p", "7000");
        var webId = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "web")).StandardOutput.Trim();
        // `run -d` returns once sink's VM runs; its nc may not listen yet, so the client retries. The
        // name is looked up first: sink's nc ends with the connection, and a container that has
        // ended has no name on the network.
        var client = await Vch.DockerAsync(
            "run", "--rm", "--network", "backend", "busybox", "sh", "-c",
            "ping -c 1 -W 5 web >/dev/null && echo ping-ok; wget -qO- http://www/hostname; nslookup sink | grep -c 10.77.0.9; for i in 1 2 3 4 5 6 7 8 9 10; do echo over-nc | nc sink 7000 2>/dev/null && break; sleep 1; done");
        var received = await Eventually.WaitForAsync(async () => (await Vch.DockerAsync("logs", "sink")).StandardOutput, s => s.Contains("over-nc", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        var webAddress = (await Vch.DockerAsync("inspect", "-f", "{{.NetworkSettings.Networks.backend.IPAddress}} {{.NetworkSettings.Networks.backend.Gateway}} {{.NetworkSettings.Networks.backend.Aliases}}", "web")).StandardOutput.Trim();
        var members = (await Vch.DockerAsync("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}|{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}}", "backend")).StandardOutput.Trim();
        var onNetwork = (await Vch.DockerAsync("ps", "-a", "--filter", "network=backend", "--format", "{{.Names}}")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var labelled = (await Vch.DockerAsync("network", "ls", "--filter", "label=team=a", "--format", "{{.Name}} {{.Driver}}")).StandardOutput;
        var inUse = await Vch.TryDockerAsync("network", "rm", "backend");
        var taken = await Vch.TryDockerAsync("run", "--rm", "--network", "backend", "--ip", "10.77.0.9", "busybox", "true");
        await Vch.DockerAsync("rm", "-f", "web", "sink");
        await Vch.DockerAsync("network", "rm", "backend");

        Assert.Equal($"ping-ok\n{webId[..12]}\n1\n", client.StandardOutput);
        Assert.Contains("over-nc", received, StringComparison.Ordinal);
        Assert.Matches(@"^10\.77\.0\.(1[2-9][0-9]|2[0-4][0-9]|25[0-4]) 10\.77\.0\.1 \[www\]$", webAddress);
        Assert.Contains("web ", members, StringComparison.Ordinal);
        Assert.Contains("sink ", members, StringComparison.Ordinal);
        Assert.EndsWith("|10.77.0.0/24 10.77.0.1 10.77.0.128/25", members, StringComparison.Ordinal);
        Assert.Equal(["sink", "web"], onNetwork.Order());
        Assert.Equal("backend bridge\n", labelled);
        Assert.Contains("has active endpoints", inUse.StandardError, StringComparison.Ordinal);
        Assert.Contains("Address already in use", taken.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("backend", (await Vch.DockerAsync("network", "ls", "--format", "{{.Name}}")).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APublishedPortAnswersFromTheHostAlsoAfterTheEndpointIsKilled()
    {
        var port = EndpointProcess.FreePort();
        await Vch.DockerAsync("run", "-d", "--name", "site", "-p", $"127.0.0.1:{port}:80", "--expose", "81", "busybox", "sh", "-c", "echo served > /www; exec httpd -f -p 80 -h /");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var before = await Eventually.WaitForAsync(() => TryGetAsync(http, port), s => s == "served\n", TimeSpan.FromSeconds(20));
        var listed = (await Vch.DockerAsync("port", "site")).StandardOutput;
        var ps = (await Vch.DockerAsync("ps", "--filter", "name=site", "--format", "{{.Ports}}")).StandardOutput;
        var clash = await Vch.TryDockerAsync("run", "-d", "--name", "clash", "-p", $"127.0.0.1:{port}:80", "busybox", "sleep", "5");

        string during = "";
        await Vch.CrashAndRestartAsync(async () => during = await TryGetAsync(http, port));
        var after = await TryGetAsync(http, port);
        var listedAfter = (await Vch.DockerAsync("port", "site", "80")).StandardOutput;

        await Vch.DockerAsync("run", "-d", "--name", "every", "-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc");
        var everyId = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "every")).StandardOutput.Trim();
        var any = (await Vch.DockerAsync("port", "every", "80/tcp")).StandardOutput.Trim();
        var anyPort = int.Parse(any[(any.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var viaAny = await Eventually.WaitForAsync(() => TryGetAsync(http, anyPort, "/hostname"), s => s.Length > 0, TimeSpan.FromSeconds(20));
        await Vch.DockerAsync("rm", "-f", "site", "every");
        await Vch.TryDockerAsync("rm", "-f", "clash");

        Assert.Equal("served\n", before);
        Assert.Equal($"80/tcp -> 127.0.0.1:{port}\n", listed);
        Assert.Equal(["127.0.0.1:" + port + "->80/tcp", "81/tcp"], ps.Trim().Split(", ").Order());
        Assert.NotEqual(0, clash.ExitCode);
        Assert.Contains("port is already allocated", clash.StandardError, StringComparison.Ordinal);
        Assert.Equal("served\n", during);
        Assert.Equal("served\n", after);
        Assert.Equal($"127.0.0.1:{port}\n", listedAfter);
        Assert.StartsWith("0.0.0.0:", any, StringComparison.Ordinal);
        Assert.Equal(everyId[..12] + "\n", viaAny);
    }

    [Fact]
    public async Task ContainersReachTheHostUnlessTheirNetworkIsInternal()
    {
        // A service on the host's own address, as a container reaches one on dockerd's host (its
        // loopback is closed to containers, as dockerd's is: see the isolation test below).
        var hostAddress = HostAddress();
        using var listener = new TcpListener(hostAddress, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var reader = new StreamReader(client.GetStream());
            return await reader.ReadLineAsync();
        });
        await Vch.DockerAsync("network", "create", "--internal", "sealed");

        // By the name compose files give the host: host-gateway names the host's own address.
        var outbound = await Vch.DockerAsync("run", "--rm", "--add-host", "host.docker.internal:host-gateway", "busybox", "sh", "-c", $"echo from-the-container | nc host.docker.internal {port} && echo sent");
        var line = await accepted.WaitAsync(TimeSpan.FromSeconds(20));
        var sealedOff = await Vch.DockerAsync("run", "--rm", "--network", "sealed", "busybox", "sh", "-c", $"echo x | nc -w 3 {hostAddress} {port} && echo sent || echo refused; ip route | grep -c default; true");
        await Vch.DockerAsync("network", "rm", "sealed");

        Assert.Equal("sent\n", outbound.StandardOutput);
        Assert.Equal("from-the-container", line);
        Assert.Equal("refused\n0\n", sealedOff.StandardOutput);
    }

    [Fact]
    public async Task AContainerReachesNeitherTheHostsLoopbackNorTheEndpointNorAnotherNetworkOfTheVch()
    {
        using var loopback = new TcpListener(IPAddress.Loopback, 0);
        loopback.Start();
        var loopbackPort = ((IPEndPoint)loopback.LocalEndpoint).Port;
        var reachedLoopback = loopback.AcceptTcpClientAsync();
        await Vch.DockerAsync("network", "create", "isolated-a");
        await Vch.DockerAsync("network", "create", "isolated-b");
        await Vch.DockerAsync("run", "-d", "--name", "b-server", "--network", "isolated-b", "busybox", "sh", "-c", "while true; do echo answer-from-b | nc -l -p 8000; done");
        var bAddress = (await Vch.DockerAsync("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "b-server")).StandardOutput.Trim();

        // Each probe prints what it received: a connection some other machine accepts is not a reach.
        var probe = $"echo loopback:$(nc -w 3 10.0.2.2 {loopbackPort} </dev/null 2>/dev/null); " +
            $"echo api:$(printf 'GET /_ping HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.0.2.2 {Vch.Endpoint.Port} 2>/dev/null | head -1); " +
            $"echo other-network:$(nc -w 3 {bAddress} 8000 </dev/null 2>/dev/null)";
        var fromA = await Vch.DockerAsync("run", "--rm", "--network", "isolated-a", "busybox", "sh", "-c", probe);
        var fromB = await Eventually.WaitForAsync(
            async () => (await Vch.DockerAsync("run", "--rm", "--network", "isolated-b", "busybox", "sh", "-c", $"nc -w 3 {bAddress} 8000 </dev/null")).StandardOutput,
            s => s.Contains("answer-from-b", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30));
        var info = await Vch.DockerAsync("info");
        await Vch.DockerAsync("rm", "-f", "b-server");
        await Vch.DockerAsync("network", "rm", "isolated-a", "isolated-b");

        Assert.Equal("loopback:\napi:\nother-network:\n", fromA.StandardOutput);
        Assert.False(reachedLoopback.IsCompleted, "a container connected to a service on the host's loopback");
        Assert.Contains("answer-from-b", fromB, StringComparison.Ordinal);
        Assert.Contains("the host's loopback and the endpoint's ports are closed to ContainerVMs", info.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>The host's address on its default route's interface: not loopback.</summary>
    private static IPAddress HostAddress() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .First(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    [Fact]
    public async Task AnIpv6NetworkCarriesIpv6BetweenContainersByAddressAndName()
    {
        await Vch.DockerAsync("network", "create", "--ipv6", "--subnet", "2001:db8:77::/64", "dual");
        await Vch.DockerAsync("run", "-d", "--name", "web6", "--network", "dual", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc");
        var address = (await Vch.DockerAsync("inspect", "-f", "{{.NetworkSettings.Networks.dual.GlobalIPv6Address}}/{{.NetworkSettings.Networks.dual.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.dual.IPv6Gateway}}", "web6")).StandardOutput.Trim();
        var client = await Vch.DockerAsync(
            "run", "--rm", "--network", "dual", "--ip6", "2001:db8:77::f00d", "busybox", "sh", "-c",
            "ip -6 addr show eth0 scope global | grep -o '2001:db8:77::f00d/64'; wget -qO- 'http://[2001:db8:77::2]/hostname' >/dev/null && echo by-address; ping -6 -c 1 -W 5 web6 >/dev/null && echo by-name");
        var pool = (await Vch.DockerAsync("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "dual")).StandardOutput.Trim();
        var noIpv6 = await Vch.TryDockerAsync("run", "--rm", "--ip6", "2001:db8:77::9", "busybox", "true");
        await Vch.DockerAsync("rm", "-f", "web6");
        await Vch.DockerAsync("network", "rm", "dual");

        Assert.Equal("2001:db8:77::2/64 2001:db8:77::1", address);
        Assert.Equal("2001:db8:77::f00d/64\nby-address\nby-name\n", client.StandardOutput);
        Assert.Matches(@"^true 172\.\d+\.0\.0/16 2001:db8:77::/64$", pool);
        Assert.NotEqual(0, noIpv6.ExitCode);
        Assert.Contains("user specified IP address", noIpv6.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAndDisconnectChangeARunningContainersNetworks()
    {
        await Vch.DockerAsync("network", "create", "front");
        await Vch.DockerAsync("run", "-d", "--name", "app", "--network", "front", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc");
        await Vch.DockerAsync("run", "-d", "--name", "probe", "busybox", "sleep", "600");
        var isolated = await Vch.TryDockerAsync("exec", "probe", "wget", "-T", "3", "-qO-", "http://app/hostname");
        await Vch.DockerAsync("network", "connect", "--alias", "prober", "front", "probe");
        var connected = (await Vch.DockerAsync("exec", "probe", "wget", "-qO-", "http://app/hostname")).StandardOutput;
        var networks = (await Vch.DockerAsync("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "probe")).StandardOutput.Trim();
        var reverse = (await Vch.DockerAsync("exec", "app", "ping", "-c", "1", "-W", "5", "prober")).ExitCode;
        await Vch.DockerAsync("network", "disconnect", "front", "probe");
        var cut = await Vch.TryDockerAsync("exec", "probe", "wget", "-T", "3", "-qO-", "http://app/hostname");
        var notThere = await Vch.TryDockerAsync("network", "disconnect", "front", "probe");
        var appId = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "app")).StandardOutput.Trim();
        await Vch.DockerAsync("network", "disconnect", "front", "app");
        var lastGone = (await Vch.DockerAsync("exec", "app", "ip", "-4", "addr", "show", "eth0")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "app", "probe");
        var pruned = (await Vch.DockerAsync("network", "prune", "-f")).StandardOutput;

        Assert.NotEqual(0, isolated.ExitCode);
        Assert.Equal(appId[..12] + "\n", connected);
        Assert.Equal("bridge front", networks);
        Assert.Equal(0, reverse);
        Assert.NotEqual(0, cut.ExitCode);
        Assert.Contains("is not connected to network front", notThere.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("inet ", lastGone, StringComparison.Ordinal);
        Assert.Contains("front", pruned, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerComposeBringsUpAWebServiceAClientThatReachesItByNameAndANamedVolume()
    {
        using var project = new TempDirectory("compose-net");
        File.WriteAllText(project.Combine("docker-compose.yml"), """
            version: "2.4"
            services:
              web:
                image: busybox
                command: sh -c "echo from-the-volume > /srv/index.html; exec httpd -f -p 80 -h /srv"
                volumes:
                  - site:/srv
              client:
                image: busybox
                command: sh -c "until wget -qO- http://web/index.html; do sleep 1; done; exec sleep 600"
                depends_on:
                  - web
            volumes:
              site:
            """);
        var environment = new Dictionary<string, string> { ["DOCKER_HOST"] = Vch.Host, ["COMPOSE_PROJECT_NAME"] = "vicnet" };
        Task<CommandResult> Compose(params string[] arguments) =>
            Command.RunAsync("docker-compose", ["-f", project.Combine("docker-compose.yml"), .. arguments], environment, TimeSpan.FromMinutes(3));

        var up = await Compose("up", "-d");
        var logs = await Eventually.WaitForAsync(
            async () => (await Compose("logs", "--no-color", "client")).StandardOutput,
            s => s.Contains("from-the-volume", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60));
        var networks = (await Vch.DockerAsync("network", "ls", "--format", "{{.Name}}")).StandardOutput;
        var down = await Compose("down");
        var networksAfter = (await Vch.DockerAsync("network", "ls", "--format", "{{.Name}}")).StandardOutput;
        var volume = (await Vch.DockerAsync("run", "--rm", "-v", "vicnet_site:/srv", "busybox", "cat", "/srv/index.html")).StandardOutput;
        await Vch.DockerAsync("volume", "rm", "vicnet_site");

        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Contains("from-the-volume", logs, StringComparison.Ordinal);
        Assert.Contains("vicnet_default", networks, StringComparison.Ordinal);
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.DoesNotContain("vicnet_default", networksAfter, StringComparison.Ordinal);
        Assert.Equal("from-the-volume\n", volume);
    }

    [Fact]
    public async Task SystemPruneTakesUnusedNetworksAndVolumesAndKeepsThoseInUse()
    {
        await Vch.DockerAsync("network", "create", "unused-net");
        await Vch.DockerAsync("network", "create", "used-net");
        await Vch.DockerAsync("volume", "create", "unused-vol");
        await Vch.DockerAsync("create", "--name", "anon-holder", "-v", "/anon", "busybox", "true");
        var anonymous = (await Vch.DockerAsync("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon-holder")).StandardOutput.Trim();
        await Vch.DockerAsync("rm", "anon-holder");
        await Vch.DockerAsync("run", "-d", "--name", "keeper", "--network", "used-net", "busybox", "sleep", "600");

        var pruned = await Vch.DockerAsync("system", "prune", "-f", "--volumes");
        var networks = (await Vch.DockerAsync("network", "ls", "--format", "{{.Name}}")).StandardOutput;
        var volumes = (await Vch.DockerAsync("volume", "ls", "-q")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "keeper");
        await Vch.DockerAsync("network", "rm", "used-net");

        Assert.Contains("unused-net", pruned.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("unused-net", networks, StringComparison.Ordinal);
        Assert.Contains("used-net", networks, StringComparison.Ordinal);
        Assert.Contains("bridge", networks, StringComparison.Ordinal);
        Assert.DoesNotContain(anonymous, volumes, StringComparison.Ordinal);
        Assert.Contains("unused-vol", volumes, StringComparison.Ordinal); // Docker 23+: named volumes only with --all
        await Vch.DockerAsync("volume", "rm", "unused-vol");
    }

    private static async Task<string> TryGetAsync(HttpClient http, int port, string path = "/www")
    {
        try
        {
            return await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return "";
        }
    }
}
