using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The container commands beyond run/stop/rm with the real docker CLI on real ContainerVMs: pause,
/// top, stats, rename, restart, restart policies, healthchecks, update, prune, ps filters, events.
/// </summary>
public sealed class ContainerOperationsTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>
{
    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task PauseFreezesTheProcessesWhileTopAndStatsStillAnswer()
    {
        await Vch.DockerAsync("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "while true; do date +%s%N; sleep 0.1; done");
        var top = await Vch.DockerAsync("top", "ticker");
        var aux = (await Vch.DockerAsync("top", "ticker", "aux")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var chosen = (await Vch.DockerAsync("top", "ticker", "-o", "pid,comm")).StandardOutput;
        var refused = await Vch.TryDockerAsync("top", "ticker", "--forest");
        var stats = await Vch.DockerAsync("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", "ticker");

        await Vch.DockerAsync("pause", "ticker");
        var pausedState = (await Vch.DockerAsync("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "ticker")).StandardOutput;
        await Task.Delay(1000); // output already on its way when the processes froze still lands
        var before = (await Vch.DockerAsync("logs", "ticker")).StandardOutput.Length;
        await Task.Delay(1500);
        var after = (await Vch.DockerAsync("logs", "ticker")).StandardOutput.Length;
        var exec = await Vch.TryDockerAsync("exec", "ticker", "true");
        var psWhilePaused = (await Vch.DockerAsync("ps", "--filter", "name=ticker", "--format", "{{.Status}}")).StandardOutput;
        await Vch.DockerAsync("unpause", "ticker");
        await Task.Delay(1000);
        var resumed = (await Vch.DockerAsync("logs", "ticker")).StandardOutput.Length;
        await Vch.DockerAsync("rm", "-f", "ticker");

        Assert.StartsWith("UID", top.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("while true", top.StandardOutput, StringComparison.Ordinal);
        Assert.Matches(@"^USER\s+PID\s+%CPU\s+%MEM\s+VSZ\s+RSS\s+TTY\s+STAT\s+START\s+TIME\s+COMMAND$", aux[0]);
        Assert.Contains(aux.Skip(1), row => row.StartsWith("root", StringComparison.Ordinal) && row.Contains("while true", StringComparison.Ordinal) && System.Text.RegularExpressions.Regex.IsMatch(row, @"\s[1-9][0-9]*\s+[1-9][0-9]*\s+\?\s+S"));
        Assert.Matches(@"^PID\s+COMMAND\n(\d+\s+\S+\n)+$", chosen);
        Assert.Contains("sh\n", chosen, StringComparison.Ordinal);
        Assert.Contains("ps_args \"--forest\" are not supported by this VCH", refused.StandardError, StringComparison.Ordinal);
        var columns = stats.StandardOutput.Trim().Split('|');
        Assert.Equal("ticker", columns[0]);
        Assert.DoesNotContain("0B / 0B", columns[1], StringComparison.Ordinal);
        Assert.True(int.Parse(columns[2], System.Globalization.CultureInfo.InvariantCulture) >= 1, stats.StandardOutput);
        Assert.Equal("paused true\n", pausedState);
        Assert.Equal(before, after);
        Assert.Contains("(Paused)", psWhilePaused, StringComparison.Ordinal);
        Assert.NotEqual(0, exec.ExitCode);
        Assert.Contains("is paused, unpause the container before exec", exec.StandardError, StringComparison.Ordinal);
        Assert.True(resumed > after, "output resumes after unpause");
    }

    [Fact]
    public async Task RenameAndRestartKeepTheContainerAndPublishEvents()
    {
        var since = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var id = (await Vch.DockerAsync("run", "-d", "--name", "first", "busybox", "sleep", "600")).StandardOutput.Trim();
        var startedBefore = (await Vch.DockerAsync("inspect", "-f", "{{.State.StartedAt}}", id)).StandardOutput;
        await Vch.DockerAsync("rename", "first", "second");
        var taken = await Vch.TryDockerAsync("rename", "second", "second");
        await Vch.DockerAsync("restart", "-t", "1", "second");
        var inspect = (await Vch.DockerAsync("inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.StartedAt}}", id)).StandardOutput.Split(' ');
        await Vch.DockerAsync("rm", "-f", "second");
        var until = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var events = (await Vch.DockerAsync("events", "--since", since, "--until", until, "--filter", $"container={id}", "--format", "{{.Action}}")).StandardOutput;

        Assert.Equal("/second", inspect[0]);
        Assert.Equal("running", inspect[1]);
        Assert.NotEqual(startedBefore.Trim(), inspect[2].Trim());
        Assert.NotEqual(0, taken.ExitCode);
        Assert.Contains("Renaming a container with the same name as its current name", taken.StandardError, StringComparison.Ordinal);
        Assert.Equal(["create", "start", "rename", "die", "stop", "start", "restart", "die", "destroy"], Filtered(events));
    }

    [Fact]
    public async Task RestartPoliciesBringContainersBackAsDockerDoes()
    {
        await Vch.DockerAsync("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3");
        await Vch.DockerAsync("run", "-d", "--name", "steady", "--restart", "always", "busybox", "sh", "-c", "sleep 1");
        await Eventually.WaitForAsync(async () => (await Inspect("flaky", "{{.State.Status}} {{.RestartCount}}")) == "exited 2");
        await Eventually.WaitForAsync(async () => int.Parse((await Inspect("steady", "{{.RestartCount}}")), System.Globalization.CultureInfo.InvariantCulture) >= 2);
        await Vch.DockerAsync("stop", "-t", "1", "steady");
        var count = await Inspect("steady", "{{.RestartCount}}");
        await Task.Delay(2500);

        Assert.Equal("3", await Inspect("flaky", "{{.State.ExitCode}}"));
        Assert.Equal("exited", await Inspect("steady", "{{.State.Status}}"));
        Assert.Equal(count, await Inspect("steady", "{{.RestartCount}}"));
        Assert.Equal("always", await Inspect("steady", "{{.HostConfig.RestartPolicy.Name}}"));
        await Vch.DockerAsync("rm", "flaky", "steady");
    }

    [Fact]
    public async Task HealthchecksTurnHealthyOrUnhealthyAndShowInPsAndInspect()
    {
        await Vch.DockerAsync("run", "-d", "--name", "getting-well", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "2",
            "busybox", "sh", "-c", "sleep 3; touch /tmp/ok; exec sleep 600");
        await Vch.DockerAsync("run", "-d", "--name", "sick", "--health-cmd", "echo nope; exit 1", "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "600");
        var early = (await Vch.DockerAsync("ps", "--filter", "name=getting-well", "--format", "{{.Status}}")).StandardOutput;
        await Eventually.WaitForAsync(async () => await Inspect("getting-well", "{{.State.Health.Status}}") == "healthy");
        await Eventually.WaitForAsync(async () => await Inspect("sick", "{{.State.Health.Status}}") == "unhealthy");
        var healthy = (await Vch.DockerAsync("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}")).StandardOutput;
        var log = JsonDocument.Parse(await Inspect("sick", "{{json .State.Health}}")).RootElement;
        await Vch.DockerAsync("rm", "-f", "getting-well", "sick");

        Assert.Contains("(health: starting)", early, StringComparison.Ordinal);
        Assert.Contains("getting-well Up", healthy, StringComparison.Ordinal);
        Assert.Contains("(healthy)", healthy, StringComparison.Ordinal);
        Assert.DoesNotContain("sick", healthy, StringComparison.Ordinal);
        Assert.True(log.GetProperty("FailingStreak").GetInt32() >= 2);
        Assert.Equal("nope\n", log.GetProperty("Log")[0].GetProperty("Output").GetString());
        Assert.Equal(1, log.GetProperty("Log")[0].GetProperty("ExitCode").GetInt32());
    }

    [Fact]
    public async Task UpdateResizesAStoppedContainerAndRefusesWhereTheBackendCannot()
    {
        await Vch.DockerAsync("create", "--name", "resizable", "-m", "256m", "busybox", "sh", "-c", "grep MemTotal /proc/meminfo; nproc");
        await Vch.DockerAsync("update", "--memory", "512m", "--cpus", "2", "--restart", "on-failure:1", "resizable");
        var settings = await Inspect("resizable", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}");
        var run = await Vch.DockerAsync("start", "-a", "resizable");
        await Vch.DockerAsync("run", "-d", "--name", "fixed", "busybox", "sleep", "600");
        var refused = await Vch.TryDockerAsync("update", "--memory", "512m", "fixed");
        await Vch.DockerAsync("rm", "-f", "resizable", "fixed");

        Assert.Equal($"{512L << 20} 2000000000 on-failure", settings);
        var memTotalKb = long.Parse(run.StandardOutput.Split('\n')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(memTotalKb, 400_000, 512 * 1024);
        Assert.Equal("2", run.StandardOutput.Split('\n')[1]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("stop it first", refused.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PsFiltersAndPruneSelectTheRightContainers()
    {
        await Vch.DockerAsync("create", "--name", "old-one", "--label", "tier=web", "busybox", "true");
        Assert.Equal(4, (await Vch.TryDockerAsync("run", "--name", "four", "--label", "tier=db", "busybox", "sh", "-c", "exit 4")).ExitCode);
        await Vch.DockerAsync("create", "--name", "new-one", "busybox", "true");

        async Task<string> Names(params string[] filter) =>
            string.Join(' ', (await Vch.DockerAsync(["ps", "-a", "--format", "{{.Names}}", "--filter", "name=one|four", .. filter])).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

        Assert.Equal("four old-one", await Names("--filter", "label=tier"));
        Assert.Equal("four", await Names("--filter", "exited=4"));
        Assert.Equal("old-one", await Names("--filter", "before=four"));
        Assert.Equal("new-one", await Names("--filter", "since=four"));
        Assert.Equal("four new-one old-one", await Names("--filter", "ancestor=busybox"));
        Assert.Equal("new-one", (await Vch.DockerAsync("ps", "-l", "--format", "{{.Names}}")).StandardOutput.Trim());
        Assert.Equal("", await Names("--filter", "volume=nothing"));
        Assert.Contains("invalid filter 'colour'", (await Vch.TryDockerAsync("ps", "--filter", "colour=red")).StandardError, StringComparison.Ordinal);
        var sized = (await Vch.DockerAsync("ps", "-a", "-s", "--filter", "name=four", "--format", "{{.Size}}")).StandardOutput;
        Assert.Contains("virtual", sized, StringComparison.Ordinal);

        var pruned = await Vch.DockerAsync("container", "prune", "-f", "--filter", "label=tier");
        Assert.Contains("Deleted Containers:", pruned.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("new-one", await Names("--filter", "name=-one"));
        await Vch.DockerAsync("rm", "new-one");
    }

    [Fact]
    public async Task CpCopiesBothWaysIntoRunningAndStoppedContainers()
    {
        using var host = new TempDirectory("cp");
        File.WriteAllText(host.Combine("hello.txt"), "from host\n");
        await Vch.DockerAsync("run", "-d", "--name", "files", "busybox", "sh", "-c", "echo inside > /tmp/made; exec sleep 600");
        await Eventually.WaitForAsync(async () => (await Vch.TryDockerAsync("exec", "files", "test", "-f", "/tmp/made")).ExitCode == 0);

        await Vch.DockerAsync("cp", host.Combine("hello.txt"), "files:/tmp/");
        var copiedIn = (await Vch.DockerAsync("exec", "files", "cat", "/tmp/hello.txt")).StandardOutput;
        await Vch.DockerAsync("cp", "files:/tmp/made", host.Combine("made.txt"));
        await Vch.DockerAsync("cp", "files:/etc", host.Combine("etc-copy"));
        var missing = await Vch.TryDockerAsync("cp", "files:/nonexist", host.Combine("x"));
        await Vch.DockerAsync("stop", "-t", "1", "files");
        await Vch.DockerAsync("cp", "files:/tmp/hello.txt", host.Combine("again.txt"));
        File.WriteAllText(host.Combine("later.txt"), "while stopped\n");
        await Vch.DockerAsync("cp", host.Combine("later.txt"), "files:/later.txt");
        var state = await Inspect("files", "{{.State.Status}}");
        await Vch.DockerAsync("start", "files");
        var later = (await Vch.DockerAsync("exec", "files", "cat", "/later.txt")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "files");

        Assert.Equal("from host\n", copiedIn);
        Assert.Equal("inside\n", File.ReadAllText(host.Combine("made.txt")));
        Assert.Contains("root:x:0:0", File.ReadAllText(host.Combine("etc-copy", "passwd")), StringComparison.Ordinal);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("Could not find the file /nonexist in container files", missing.StandardError, StringComparison.Ordinal);
        Assert.Equal("from host\n", File.ReadAllText(host.Combine("again.txt")));
        Assert.Equal("exited", state);
        Assert.Equal("while stopped\n", later);
    }

    [Fact]
    public async Task AHostileTarPutIntoAContainerCannotReachOutsideIt()
    {
        await Vch.DockerAsync("run", "-d", "--name", "target", "busybox", "sh", "-c", "ln -s / /tmp/up; exec sleep 600");
        using var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, leaveOpen: true))
        {
            foreach (var name in new[] { "../../escaped", "/abs-escaped", "fine.txt" })
            {
                var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream("x"u8.ToArray()) };
                writer.WriteEntry(entry);
            }

            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.HardLink, "stolen") { LinkName = "../../../etc/shadow" });
        }

        using var client = new HttpClient();
        using var body = new ByteArrayContent(tar.ToArray());
        var put = await client.PutAsync(new Uri($"http://127.0.0.1:{Vch.Endpoint.Port}/v1.47/containers/target/archive?path=/tmp"), body);
        var listing = (await Vch.DockerAsync("exec", "target", "sh", "-c", "ls /escaped /abs-escaped /tmp/abs-escaped /tmp/fine.txt /tmp/stolen 2>&1; true")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "target");

        // The entries that climb out are dropped or refused; the one that stays inside lands.
        Assert.Contains("/tmp/fine.txt", listing, StringComparison.Ordinal);
        Assert.Contains("/escaped: No such file or directory", listing, StringComparison.Ordinal);
        Assert.Contains("/tmp/abs-escaped", listing, StringComparison.Ordinal);
        Assert.Contains("/tmp/stolen: No such file or directory", listing, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, put.StatusCode);
    }

    [Fact]
    public async Task DiffExportAndCommitSeeTheContainersChanges()
    {
        using var host = new TempDirectory("export");
        await Vch.DockerAsync("run", "--name", "changer", "busybox", "sh", "-c", "mkdir /data && echo x > /data/new && rm /bin/ls && echo extra >> /etc/passwd");
        var diff = (await Vch.DockerAsync("diff", "changer")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Vch.DockerAsync("export", "-o", host.Combine("rootfs.tar"), "changer");
        var listing = (await Command.RunAsync("tar", ["-tf", host.Combine("rootfs.tar")])).StandardOutput.Split('\n');
        var imageId = (await Vch.DockerAsync("commit", "--change", "ENV FLAVOUR=committed", "-m", "made in a test", "changer", "committed:v1")).StandardOutput.Trim();
        var fromCommit = (await Vch.DockerAsync("run", "--rm", "committed:v1", "sh", "-c", "cat /data/new; echo $FLAVOUR; test -e /bin/ls || echo no-ls")).StandardOutput;
        var history = (await Vch.DockerAsync("history", "--format", "{{.Comment}}", "committed:v1")).StandardOutput;
        var busyboxId = (await Vch.DockerAsync("image", "inspect", "-f", "{{.Id}}", "busybox")).StandardOutput.Trim();
        var changerId = (await Vch.DockerAsync("inspect", "-f", "{{.Id}}", "changer")).StandardOutput.Trim();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Vch.Endpoint.Port}") };
        using var asOld = JsonDocument.Parse(await http.GetStringAsync(new Uri($"/v1.41/images/{imageId}/json", UriKind.Relative)));
        using var asNew = JsonDocument.Parse(await http.GetStringAsync(new Uri($"/v1.47/images/{imageId}/json", UriKind.Relative)));
        await Vch.DockerAsync("rm", "changer");
        await Vch.DockerAsync("rmi", "committed:v1");

        Assert.Contains("A /data", diff);
        Assert.Contains("A /data/new", diff);
        Assert.Contains("C /etc/passwd", diff);
        Assert.Contains("D /bin/ls", diff);
        Assert.DoesNotContain("C /etc/hostname", diff);
        Assert.Contains("data/new", listing);
        Assert.Contains("bin/sh", listing);
        Assert.DoesNotContain(listing, l => l.StartsWith("proc/", StringComparison.Ordinal) && l.Length > "proc/".Length);
        Assert.StartsWith("sha256:", imageId, StringComparison.Ordinal);
        Assert.Equal("x\ncommitted\nno-ls\n", fromCommit);
        Assert.Contains("made in a test", history, StringComparison.Ordinal);

        // As dockerd's commit: the parent is the container's image, and clients below API 1.45 see
        // the container and its config (before --change) the image came from.
        Assert.Equal(busyboxId, asNew.RootElement.GetProperty("Parent").GetString());
        Assert.Equal(changerId, asOld.RootElement.GetProperty("Container").GetString());
        Assert.Equal("busybox", asOld.RootElement.GetProperty("ContainerConfig").GetProperty("Image").GetString());
        Assert.DoesNotContain("FLAVOUR=committed", asOld.RootElement.GetProperty("ContainerConfig").GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        Assert.False(asNew.RootElement.TryGetProperty("Container", out _));
    }

    /// <remarks>
    /// network_mode: none keeps compose from creating its default network: networks are not served
    /// yet, and compose 1.29 creates none for services that name their own network mode.
    /// </remarks>
    [Fact]
    public async Task DockerCompose129BringsATwoServiceProjectUpAndDown()
    {
        using var project = new TempDirectory("compose");
        File.WriteAllText(project.Combine("docker-compose.yml"), """
            version: "2.4"
            services:
              web:
                image: busybox
                command: sh -c "echo web up; exec sleep 600"
                network_mode: none
                labels:
                  tier: web
              worker:
                image: busybox
                command: sh -c "echo worker $$ROLE; exec sleep 600"
                network_mode: none
                environment:
                  ROLE: crunching
            """);
        var environment = new Dictionary<string, string> { ["DOCKER_HOST"] = Vch.Host, ["COMPOSE_PROJECT_NAME"] = "vicdemo" };
        Task<CommandResult> Compose(params string[] arguments) =>
            Command.RunAsync("docker-compose", ["-f", project.Combine("docker-compose.yml"), .. arguments], environment, TimeSpan.FromMinutes(3));

        var up = await Compose("up", "-d");
        var ps = await Compose("ps");
        CommandResult logs = null!;
        for (var i = 0; i < 50; i++)
        {
            logs = await Compose("logs", "--no-color");
            if (logs.StandardOutput.Contains("worker crunching", StringComparison.Ordinal) && logs.StandardOutput.Contains("web up", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(200);
        }

        var labels = await Inspect("vicdemo_web_1", "{{index .Config.Labels \"tier\"}} {{index .Config.Labels \"com.docker.compose.service\"}}");
        var down = await Compose("down");
        var left = (await Vch.DockerAsync("ps", "-a", "--filter", "label=com.docker.compose.project=vicdemo", "-q")).StandardOutput;

        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Contains("vicdemo_web_1", ps.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("vicdemo_worker_1", ps.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Up", ps.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("web up", logs.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("worker crunching", logs.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("web web", labels);
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.Equal("", left);
    }

    /// <summary>The actions in order, without the kills (dockerd sends one or two depending on timing).</summary>
    private static string[] Filtered(string events) => [.. events.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(a => a != "kill")];

    private async Task<string> Inspect(string name, string format) => (await Vch.DockerAsync("inspect", "-f", format, name)).StandardOutput.Trim();
}
