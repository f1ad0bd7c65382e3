using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>Answers dockerd gives that clients depend on: kill, update, links, exec framing, load errors.</summary>
public sealed partial class DockerRunTests
{
    [Fact]
    public async Task KillAnswersOnceStoppedAndUpdateHoldsARunningContainerToLessMemory()
    {
        await DockerAsync("run", "-d", "--name", "killed", "busybox", "sleep", "600");
        await DockerAsync("kill", "killed");
        var afterKill = (await DockerAsync("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "killed")).StandardOutput.Trim();
        await DockerAsync("run", "-d", "--name", "shrunk", "-m", "256m", "--tmpfs", "/big:size=200m", "busybox", "sleep", "600");
        var roomy = await Vch.TryDockerAsync("exec", "shrunk", "sh", "-c", "dd if=/dev/zero of=/big/a bs=1M count=100 2>/dev/null && rm /big/a && echo fits");
        await DockerAsync("update", "-m", "64m", "shrunk");
        var squeezed = await Vch.TryDockerAsync("exec", "shrunk", "sh", "-c", "dd if=/dev/zero of=/big/b bs=1M count=100 2>/dev/null && echo fits");
        var memory = (await DockerAsync("inspect", "-f", "{{.HostConfig.Memory}}", "shrunk")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "killed", "shrunk");

        Assert.Equal("false 137", afterKill);
        Assert.Equal("fits\n", roomy.StandardOutput);
        Assert.Equal(137, squeezed.ExitCode); // the guest's OOM killer, within the cgroup's 64 MiB
        Assert.Equal("67108864", memory);
    }

    [Fact]
    public async Task LinksGiveTheirVariablesAndRmLinkForgetsTheLink()
    {
        await DockerAsync("run", "-d", "--name", "linked-db", "-e", "FOO=1", "--expose", "5432", "busybox", "sleep", "600");
        var env = (await DockerAsync("run", "--rm", "--name", "linker", "--link", "linked-db:db", "busybox", "sh", "-c", "env | grep ^DB_ | sort")).StandardOutput;
        await DockerAsync("create", "--name", "link-holder", "--link", "linked-db:db", "busybox", "true");
        var removal = await Vch.TryDockerAsync("rm", "--link", "link-holder/db");
        var again = await Vch.TryDockerAsync("rm", "--link", "link-holder/db");
        var links = (await DockerAsync("inspect", "-f", "{{json .HostConfig.Links}}", "link-holder")).StandardOutput.Trim();
        var address = (await DockerAsync("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "linked-db")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "linked-db", "link-holder");

        Assert.Equal(
            $"DB_ENV_FOO=1\nDB_NAME=/linker/db\nDB_PORT=tcp://{address}:5432\nDB_PORT_5432_TCP=tcp://{address}:5432\nDB_PORT_5432_TCP_ADDR={address}\nDB_PORT_5432_TCP_PORT=5432\nDB_PORT_5432_TCP_PROTO=tcp\n",
            env);
        Assert.True(removal.ExitCode == 0, removal.ToString());
        Assert.NotEqual(0, again.ExitCode);
        Assert.Equal("null", links);
    }

    [Fact]
    public async Task AContainerVmWhoseQemuIsKilledExits137AndItsRestartPolicyApplies()
    {
        var id = (await DockerAsync("run", "-d", "--name", "doomed", "--restart", "on-failure:1", "busybox", "sleep", "600")).StandardOutput.Trim();

        // The die event, read live from /events (a replay of the last 256 events could have lost it
        // among the fixture's other containers' events on a busy run).
        using var events = new HttpClient { BaseAddress = new Uri(Host.Replace("tcp://", "http://", StringComparison.Ordinal)), Timeout = Timeout.InfiniteTimeSpan };
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var filters = Uri.EscapeDataString($"{{\"container\":[\"{id}\"],\"event\":[\"die\"]}}");
        using var stream = new StreamReader(await events.GetStreamAsync($"/events?filters={filters}", stop.Token));
        var die = Task.Run(async () => await stream.ReadLineAsync(stop.Token));

        // Its QEMU (a ready clone's keeps the command line it was launched with) holds the container's scratch disk open.
        var qemu = ContainerVmProcesses.Holding(id);
        Assert.True(qemu > 0, $"no QEMU holds a file of {id}"); // never kill 0: that is the test's own process group
        var killed = await Command.RunAsync("kill", ["-9", qemu.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var state = "";
        for (var i = 0; i < 150 && !state.StartsWith("1 running", StringComparison.Ordinal); i++)
        {
            await Task.Delay(200);
            state = (await DockerAsync("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "doomed")).StandardOutput.Trim();
        }

        var died = System.Text.Json.JsonDocument.Parse((await die)!).RootElement;
        await stop.CancelAsync();
        await DockerAsync("rm", "-f", "doomed");

        Assert.True(killed.ExitCode == 0, $"QEMU {qemu} of {id} not killed: {killed}");
        Assert.Equal("1 running", state);
        Assert.Equal("137", died.GetProperty("Actor").GetProperty("Attributes").GetProperty("exitCode").GetString());
    }

    [Fact]
    public async Task SearchListsTheRepositoriesOfTheRegistryCatalog()
    {
        var found = await DockerAsync("search", "--format", "{{.Name}} {{.IsOfficial}} {{.StarCount}}", "busy");
        var none = await DockerAsync("search", "--format", "{{.Name}}", "nosuchrepository");
        var filtered = await DockerAsync("search", "--format", "{{.Name}}", "--filter", "is-official=false", "busy");
        var badFilter = await Vch.TryDockerAsync("search", "--filter", "color=blue", "busy");

        Assert.Equal("busybox [OK] 0\n", found.StandardOutput);
        Assert.Equal("", none.StandardOutput);
        Assert.Equal("", filtered.StandardOutput);
        Assert.Contains("invalid filter 'color'", badFilter.StandardError, StringComparison.Ordinal);
    }

    /// <summary>docker-py's own ways: an exec made with a TTY but started without one is multiplexed, a line is one chunk, a bad archive is an ImageLoadError.</summary>
    [Fact]
    public async Task DockerPySeesDockerdsExecFramingAndLoadErrors()
    {
        var script = string.Join(
            "\n",
            "import docker, json",
            $"api = docker.APIClient(base_url='{Host}')",
            "c = api.create_container('busybox', 'sleep 600', name='framing')",
            "api.start(c)",
            "e = api.exec_create(c, ['sh', '-c', 'echo out; echo err >&2'], tty=True)",
            "muxed = api.exec_start(e).decode()",
            // A process that outlives its line: whether a TTY exec that ends at once loses its last output is a race of its own, not what this looks at.
            "e = api.exec_create(c, ['sh', '-c', 'echo hello; sleep 1'], tty=True)",
            "chunks = [x.decode() for x in api.exec_start(e, tty=True, stream=True)]",
            "try:",
            "    docker.DockerClient(base_url='" + Host + "').images.load(b'abc')",
            "    loaded = 'loaded'",
            "except docker.errors.ImageLoadError as error:",
            "    loaded = 'refused'",
            "api.remove_container(c, force=True)",
            "print(json.dumps({'muxed': muxed, 'chunks': chunks, 'load': loaded}))");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script]);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(result.StandardOutput);
        Assert.Equal("out\r\nerr\r\n", json.RootElement.GetProperty("muxed").GetString());
        Assert.Equal(["hello\r\n"], json.RootElement.GetProperty("chunks").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("refused", json.RootElement.GetProperty("load").GetString());
    }
}
