using System.Text.Json;
using Vic.PortLayer.Containers;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>The stock docker CLI (28.x) against the endpoint run as its own process, as `make up` runs it.</summary>
public sealed class DockerCliTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-e2e");
    private EndpointProcess _endpoint = null!;

    private string Host => $"tcp://127.0.0.1:{_endpoint.Port}";

    public async Task InitializeAsync()
    {
        var port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port,
        [
            "-H", $"tcp://127.0.0.1:{port}", "-H", $"unix://{_home.Combine("docker.sock")}",
            "--data-dir", _home.Combine("data"), "--name", "e2e-vch", "--pool-cpu", "3", "--pool-memory", "3g",
            "--insecure-registry", "registry.local:5000", "--registry-mirror", "http://127.0.0.1:5000",
        ]);
    }

    public async Task DisposeAsync() => await _endpoint.DisposeAsync();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task VersionShowsTheServerAndNegotiatesDownTo147()
    {
        var result = await Command.DockerAsync(Host, "version", "--format", "{{json .}}");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        var server = json.RootElement.GetProperty("Server");
        Assert.Equal("1.47", server.GetProperty("ApiVersion").GetString());
        Assert.Equal("1.24", server.GetProperty("MinAPIVersion").GetString());
        Assert.Equal("Engine", server.GetProperty("Components")[0].GetProperty("Name").GetString());
        Assert.Equal("1.47", json.RootElement.GetProperty("Client").GetProperty("ApiVersion").GetString());
    }

    [Fact]
    public async Task InfoShowsThePoolLimitsAndRegistryConfig()
    {
        var result = await Command.DockerAsync(Host, "info", "--format", "{{json .}}");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        var info = json.RootElement;
        Assert.Equal(3, info.GetProperty("NCPU").GetInt32());
        Assert.Equal(3L << 30, info.GetProperty("MemTotal").GetInt64());
        Assert.Equal("e2e-vch", info.GetProperty("Name").GetString());
        Assert.Equal(0, info.GetProperty("Containers").GetInt32());
        Assert.Equal(["http://127.0.0.1:5000/"], info.GetProperty("RegistryConfig").GetProperty("Mirrors").EnumerateArray().Select(m => m.GetString()));
        Assert.False(info.GetProperty("RegistryConfig").GetProperty("IndexConfigs").GetProperty("registry.local:5000").GetProperty("Secure").GetBoolean());
    }

    [Fact]
    public async Task InfoPrintsReadableFiguresOverTheUnixSocket()
    {
        var result = await Command.DockerAsync($"unix://{_home.Combine("docker.sock")}", "info");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(" CPUs: 3", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(" Total Memory: 3GiB", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("  VCH memory limit: 3 GiB", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(" Registry Mirrors:\n  http://127.0.0.1:5000/", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("WARNING", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnOldApiVersionIsRefusedWithDockersText()
    {
        var result = await Command.RunAsync(
            "docker",
            ["-H", Host, "version"],
            new Dictionary<string, string> { ["DOCKER_API_VERSION"] = "1.12" });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(
            "Error response from daemon: client version 1.12 is too old. Minimum supported API version is 1.24",
            result.StandardError,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedCommandsFailWithAPlainMessageNotRawJson()
    {
        var result = await Command.DockerAsync(Host, "plugin", "install", "--grant-all-permissions", "vieux/sshfs");

        Assert.NotEqual(0, result.ExitCode);
        Assert.StartsWith("Error response from daemon: plugins are not supported by this VCH", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("{", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Each `docker run` option (or value) a ContainerVM cannot honour fails the create, naming it; none is dropped silently.</summary>
    [Theory]
    [InlineData("--log-driver gelf", "--log-driver")]
    [InlineData("--log-driver syslog --log-opt syslog-address=tcp+tls://logs:6514", "tcp+tls")]
    [InlineData("--log-opt labels=a", "--log-opt")]
    [InlineData("--platform linux/arm64", "--platform")]
    [InlineData("--gpus all", "--gpus")]
    [InlineData("--cap-add FLY", "invalid CapAdd: unknown capability")]
    [InlineData("--security-opt apparmor=docker-default", "--security-opt apparmor=docker-default")]
    [InlineData("--pid container:db", "--pid")]
    [InlineData("--ipc container:db", "--ipc")]
    [InlineData("--cpuset-mems 1", "Requested memory nodes are not available")]
    [InlineData("--storage-opt size=1G", "--storage-opt")]
    [InlineData("--cgroup-parent x", "--cgroup-parent")]
    [InlineData("--runtime runc", "--runtime")]
    public async Task ARunOptionTheVchCannotHonourIsRefusedByName(string options, string named)
    {
        var result = await Command.DockerAsync(Host, ["create", .. options.Split(' '), "busybox", "true"]);

        Assert.NotEqual(0, result.ExitCode);
        Assert.StartsWith("Error response from daemon: ", result.StandardError, StringComparison.Ordinal);
        Assert.Contains(named, result.StandardError, StringComparison.Ordinal);
        Assert.Equal("", (await Command.DockerAsync(Host, "ps", "-aq")).StandardOutput);
    }

    [Fact]
    public async Task SwarmCommandsAnswerAsADockerdWithoutASwarmAndPluginsListNone()
    {
        var leave = await Command.DockerAsync(Host, "swarm", "leave", "--force");
        var nodes = await Command.DockerAsync(Host, "node", "ls");
        var services = await Command.DockerAsync(Host, "service", "ls");
        var secrets = await Command.DockerAsync(Host, "secret", "ls");
        var init = await Command.DockerAsync(Host, "swarm", "init");
        var plugins = await Command.DockerAsync(Host, "plugin", "ls", "--format", "{{.Name}}");
        var plugin = await Command.DockerAsync(Host, "plugin", "inspect", "vieux/sshfs");
        var swarm = (await Command.DockerAsync(Host, "info", "--format", "{{.Swarm.LocalNodeState}}")).StandardOutput;

        Assert.Equal("Error response from daemon: This node is not part of a swarm\n", leave.StandardError);
        Assert.Contains("This node is not a swarm manager.", nodes.StandardError, StringComparison.Ordinal);
        Assert.Contains("This node is not a swarm manager.", services.StandardError, StringComparison.Ordinal);
        Assert.Contains("This node is not a swarm manager.", secrets.StandardError, StringComparison.Ordinal);
        Assert.NotEqual(0, init.ExitCode);
        Assert.Contains("swarm mode is not available on a VCH", init.StandardError, StringComparison.Ordinal);
        Assert.True(plugins.ExitCode == 0, plugins.ToString());
        Assert.Equal("", plugins.StandardOutput);
        Assert.Contains("vieux/sshfs", plugin.StandardError, StringComparison.Ordinal);
        Assert.Equal("inactive\n", swarm);
    }

    [Fact]
    public async Task DockerPyReadsVersionAndInfo()
    {
        var script = string.Join(
            "\n",
            "import docker, json, sys",
            $"client = docker.DockerClient(base_url='{Host}')",
            "v = client.version()",
            "i = client.info()",
            "print(json.dumps({'api': v['ApiVersion'], 'min': v['MinAPIVersion'], 'ncpu': i['NCPU'], 'name': i['Name'], 'ping': client.ping()}))");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script]);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal("1.47", json.RootElement.GetProperty("api").GetString());
        Assert.Equal("1.24", json.RootElement.GetProperty("min").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("ncpu").GetInt32());
        Assert.Equal("e2e-vch", json.RootElement.GetProperty("name").GetString());
        Assert.True(json.RootElement.GetProperty("ping").GetBoolean());
    }
}

/// <summary><c>docker events</c> and <c>docker info</c> counts, with containers made inside the port layer.</summary>
public sealed class DockerCliEventsTests : IAsyncLifetime
{
    private InProcessVch _vch = null!;

    public async Task InitializeAsync() => _vch = await InProcessVch.StartAsync();

    public async Task DisposeAsync() => await _vch.DisposeAsync();

    [Fact]
    public async Task EventsWithSinceUntilAndFiltersPrintWhatHappened()
    {
        var since = DateTimeOffset.UtcNow.AddSeconds(-2);
        var catalog = _vch.Engine.Containers;
        var web = catalog.Create(new NewContainer("web", "busybox", new Dictionary<string, string> { ["app"] = "shop" }));
        catalog.Transition(web.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");
        catalog.Transition(web.Id, (who, s) => s.Exit(who, 3, DateTimeOffset.UtcNow), "die", new Dictionary<string, string> { ["exitCode"] = "3" });
        catalog.Create(new NewContainer("other", "alpine"));
        var until = DateTimeOffset.UtcNow.AddSeconds(1);

        var result = await Command.DockerAsync(
            _vch.DockerHost,
            "events",
            "--since", since.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--until", until.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--filter", "label=app=shop",
            "--format", "{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"exitCode\"}}");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["create web ", "start web ", "die web 3"], result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task InfoCountsContainersByState()
    {
        var catalog = _vch.Engine.Containers;
        var up = catalog.Create(new NewContainer("up", "busybox"));
        catalog.Transition(up.Id, (who, s) => s.Start(who, DateTimeOffset.UtcNow), "start");
        catalog.Create(new NewContainer("idle", "busybox"));

        var result = await Command.DockerAsync(_vch.DockerHost, "info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("2 1 0 1\n", result.StandardOutput);
    }
}
