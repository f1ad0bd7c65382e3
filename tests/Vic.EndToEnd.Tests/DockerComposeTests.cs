using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// docker-compose 1.29, the real binary, the way most people run it: <c>up</c> in the foreground
/// (compose attaches on connections it has already used for other calls), then <c>run --rm</c>,
/// <c>exec -T</c>, <c>logs</c> and <c>down -v</c>.
/// </summary>
public sealed class DockerComposeTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>
{
    private const string Project = """
        version: "2.4"
        services:
          web:
            image: busybox
            command: sh -c "echo from-the-volume > /srv/index.html; echo web-ready; exec httpd -f -vv -p 80 -h /srv"
            volumes:
              - site:/srv
          client:
            image: busybox
            command: sh -c "until wget -qO- http://web/index.html; do sleep 1; done; echo client-done; exit 3"
            depends_on:
              - web
        volumes:
          site:
        """;

    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task UpInTheForegroundShowsBothServicesLogsAndExitsWithTheClientsCode()
    {
        using var project = new TempDirectory("compose-fg");
        var compose = Compose(project, "fg");

        var up = await compose("up", "--no-color", "--abort-on-container-exit", "--exit-code-from", "client");
        var down = await compose("down", "-v");
        var volumes = (await Vch.DockerAsync("volume", "ls", "-q")).StandardOutput;

        Assert.True(up.ExitCode == 3, up.ToString());
        Assert.Contains("web_1     | web-ready", up.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("response:200", up.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("client_1  | from-the-volume", up.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("client_1  | client-done", up.StandardOutput, StringComparison.Ordinal);
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.DoesNotContain("fg_site", volumes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunRmExecLogsAndDownWithVolumesWorkOnARunningService()
    {
        using var project = new TempDirectory("compose-ops");
        var compose = Compose(project, "ops");

        var up = await compose("up", "-d", "web");
        var exec = await compose("exec", "-T", "web", "cat", "/srv/index.html");
        var run = await compose("run", "--rm", "-T", "client", "sh", "-c", "until wget -qO- http://web/index.html; do sleep 1; done; exit 4");
        var logs = await compose("logs", "--no-color", "web");
        var leftBeforeDown = (await Vch.DockerAsync("ps", "-a", "--filter", "label=com.docker.compose.project=ops", "--format", "{{.Names}}")).StandardOutput;
        var down = await compose("down", "-v");
        var left = (await Vch.DockerAsync("ps", "-a", "--filter", "label=com.docker.compose.project=ops", "-q")).StandardOutput;
        var volumes = (await Vch.DockerAsync("volume", "ls", "-q")).StandardOutput;

        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.True(exec.ExitCode == 0, exec.ToString());
        Assert.Equal("from-the-volume\n", exec.StandardOutput);
        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("from-the-volume", run.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("ops_web_1\n", leftBeforeDown);
        Assert.Matches(@"web_1 +\| web-ready", logs.StandardOutput);
        Assert.Contains("url:/index.html", logs.StandardOutput, StringComparison.Ordinal);
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.Equal("", left);
        Assert.DoesNotContain("ops_site", volumes, StringComparison.Ordinal);
    }

    private delegate Task<CommandResult> ComposeCommand(params string[] arguments);

    private ComposeCommand Compose(TempDirectory project, string name)
    {
        File.WriteAllText(project.Combine("docker-compose.yml"), Project);
        var environment = new Dictionary<string, string> { ["DOCKER_HOST"] = Vch.Host, ["COMPOSE_PROJECT_NAME"] = name };
        return arguments => Command.RunAsync("docker-compose", ["-f", project.Combine("docker-compose.yml"), .. arguments], environment, TimeSpan.FromMinutes(3));
    }
}
