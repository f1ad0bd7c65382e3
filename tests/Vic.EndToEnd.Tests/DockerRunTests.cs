using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// docker run and the container commands built so far, with the stock docker CLI against an
/// endpoint running real ContainerVMs (QEMU backend, instant clone, TCG) and pulling from a local
/// registry serving as its docker.io mirror.
/// </summary>
/// <remarks>The tests share one VCH, so each looks only at the containers it named.</remarks>
public sealed partial class DockerRunTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>
{
    private QemuVch Vch => fixture.Vch;

    private string Host => Vch.Host;

    [Fact]
    public async Task RunRmPrintsTheOutputAndLeavesNothing()
    {
        var run = await DockerAsync("run", "--rm", "--name", "short-lived", "busybox", "echo", "hello");

        Assert.Equal("hello\n", run.StandardOutput);
        Assert.Equal("", (await DockerAsync("ps", "-aq", "--filter", "name=short-lived")).StandardOutput);
    }

    [Fact]
    public async Task TmpfsMountsAndAddedGroupsReachTheProcessAndItsExecs()
    {
        await DockerAsync("run", "-d", "--name", "tmpfs-groups", "--tmpfs", "/scratch:size=2m,mode=1777,exec", "--tmpfs", "/fast", "--group-add", "nogroup", "--group-add", "1234", "--user", "1000", "busybox", "sleep", "600");
        var mounts = (await DockerAsync("exec", "tmpfs-groups", "sh", "-c", "grep -E ' /(scratch|fast) ' /proc/mounts | cut -d' ' -f2-4 | sort")).StandardOutput;
        var groups = (await DockerAsync("exec", "tmpfs-groups", "id", "-G")).StandardOutput.Trim();
        // Both are writable by any user (tmpfs's mode is 1777, as on dockerd); only /scratch runs programs.
        var write = await Vch.TryDockerAsync("exec", "tmpfs-groups", "sh", "-c", "for d in /scratch /fast; do printf '#!/bin/sh\\necho ran in %s\\n' $d > $d/s; chmod +x $d/s; $d/s; done");
        var inspect = (await DockerAsync("inspect", "-f", "{{json .HostConfig.Tmpfs}} {{json .HostConfig.GroupAdd}}", "tmpfs-groups")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "tmpfs-groups");

        Assert.Equal("/fast tmpfs rw,nosuid,nodev,noexec,relatime,inode64\n/scratch tmpfs rw,nosuid,nodev,relatime,size=2048k,inode64\n", mounts);
        Assert.Equal(["1000", "1234", "65534"], groups.Split(' ').Order());
        Assert.Equal("ran in /scratch\n", write.StandardOutput);
        Assert.Contains("/fast/s: Permission denied", write.StandardError, StringComparison.Ordinal);
        Assert.Equal("""{"/fast":"","/scratch":"size=2m,mode=1777,exec"} ["nogroup","1234"]""", inspect);
    }

    [Fact]
    public async Task LogDriversNoneAndJsonFileWithRotationAreHonoured()
    {
        var quiet = await DockerAsync("run", "--name", "no-logs", "--log-driver", "none", "busybox", "echo", "not kept");
        var unread = await Vch.TryDockerAsync("logs", "no-logs");
        await DockerAsync("run", "--name", "rotated", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "for i in $(seq 100 299); do echo line $i; done");
        var kept = (await DockerAsync("logs", "rotated")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var inspect = (await DockerAsync("inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", "rotated")).StandardOutput.Trim();
        await DockerAsync("rm", "no-logs", "rotated");

        Assert.Equal("not kept\n", quiet.StandardOutput); // attached: docker run still shows it
        Assert.NotEqual(0, unread.ExitCode);
        Assert.Contains("configured logging driver does not support reading", unread.StandardError, StringComparison.Ordinal);
        Assert.Equal("line 299", kept[^1]);
        Assert.True(kept.Length is > 10 and < 200, $"{kept.Length} lines kept of 200");
        Assert.Equal(Enumerable.Range(300 - kept.Length, kept.Length).Select(i => $"line {i}"), kept);
        Assert.Equal("""json-file {"max-file":"2","max-size":"1k"}""", inspect);
    }

    [Fact]
    public async Task TheMacAddressAskedForIsTheBridgeNicsAndInspectShowsIt()
    {
        await DockerAsync("run", "-d", "--name", "own-mac", "--mac-address", "02:42:ac:11:00:99", "busybox", "sleep", "600");
        var inGuest = (await DockerAsync("exec", "own-mac", "cat", "/sys/class/net/eth0/address")).StandardOutput.Trim();
        var inspect = (await DockerAsync("inspect", "-f", "{{.NetworkSettings.MacAddress}}", "own-mac")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "own-mac");

        Assert.Equal("02:42:ac:11:00:99", inGuest);
        Assert.Equal("02:42:ac:11:00:99", inspect);
    }

    [Fact]
    public async Task AReadyCloneRunsTheNextContainerWithItsPublishedPort()
    {
        // A first run tells the VCH what clones are wanted; a ready one is made once it is quiet.
        await DockerAsync("run", "--rm", "busybox", "true");
        var ready = await Eventually.WaitForAsync(async () => (await DockerAsync("info", "-f", "{{json .DriverStatus}}")).StandardOutput, PoolFull, TimeSpan.FromSeconds(120));
        var port = EndpointProcess.FreePort();
        await DockerAsync("run", "-d", "--name", "ready-web", "-p", $"127.0.0.1:{port}:80", "busybox", "sh", "-c", "echo from-a-ready-clone > /index.html; exec httpd -f -p 80 -h /");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var served = await Eventually.WaitForAsync(
            async () =>
            {
                try
                {
                    return await http.GetStringAsync($"http://127.0.0.1:{port}/index.html");
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return null;
                }
            },
            s => s is not null,
            TimeSpan.FromSeconds(60));
        var adopted = Vch.Endpoint.Output;
        var id = (await DockerAsync("inspect", "-f", "{{.Id}}", "ready-web")).StandardOutput.Trim();
        await DockerAsync("rm", "-f", "ready-web");

        Assert.True(PoolFull(ready), ready);
        Assert.Equal("from-a-ready-clone\n", served);
        Assert.Contains($"ContainerVM {id} is a ready clone", adopted, StringComparison.Ordinal);

        // "Ready clones","2 of 2": as many ready as the VCH keeps.
        static bool PoolFull(string info) => System.Text.RegularExpressions.Regex.IsMatch(info, "\\[\"Ready clones\",\"([1-8]) of \\1\"\\]");
    }

    [Theory]
    [InlineData("false", 1)]
    [InlineData("exit 7", 7)]
    [InlineData("kill -9 $$", 137)]
    public async Task ExitCodesBecomeTheClisExitCode(string script, int code)
    {
        var run = await Command.DockerAsync(Host, "run", "--rm", "busybox", "sh", "-c", script);

        Assert.Equal(code, run.ExitCode);
    }

    [Fact]
    public async Task InstantClonesOfOneTemplateReadDifferentRandomBytes()
    {
        // Each container is a clone woken from the same saved guest, random generator included; the
        // first bytes read must still differ (the tether reseeds from the endpoint's seed).
        const string Read = "head -c 16 /dev/urandom | od -An -tx1; cat /proc/sys/kernel/random/uuid";
        var first = await DockerAsync("run", "--rm", "busybox", "sh", "-c", Read);
        var second = await DockerAsync("run", "--rm", "busybox", "sh", "-c", Read);

        Assert.Matches(@"^( [0-9a-f]{2}){16}
[0-9a-f-]{36}
$", first.StandardOutput);
        var (a, b) = (first.StandardOutput.Split('\n'), second.StandardOutput.Split('\n'));
        Assert.NotEqual(a[0], b[0]);
        Assert.NotEqual(a[1], b[1]);
    }

    [Fact]
    public async Task AMissingCommandIs127WithDockersText()
    {
        var run = await Command.DockerAsync(Host, "run", "--rm", "busybox", "nosuch");

        Assert.Equal(127, run.ExitCode);
        Assert.Contains("exec: \"nosuch\": executable file not found in $PATH", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InspectShowsTheMainProcessesPidWhileItRunsAndTheExecSessions()
    {
        await DockerAsync("run", "-d", "--name", "pids", "busybox", "sleep", "600");
        await DockerAsync("exec", "pids", "true");
        var running = (await DockerAsync("inspect", "-f", "{{.State.Pid}} {{len .ExecIDs}}", "pids")).StandardOutput.Trim().Split(' ');
        var inGuest = (await DockerAsync("exec", "pids", "sh", "-c", $"cat /proc/{running[0]}/comm")).StandardOutput.Trim();
        await DockerAsync("stop", "-t", "1", "pids");
        var stopped = (await DockerAsync("inspect", "-f", "{{.State.Pid}}", "pids")).StandardOutput.Trim();
        await DockerAsync("rm", "pids");

        Assert.True(int.Parse(running[0], System.Globalization.CultureInfo.InvariantCulture) > 1, string.Join(' ', running));
        Assert.Equal("1", running[1]);
        Assert.Equal("vic-exec", inGuest); // the container's init, as runc's is on dockerd
        Assert.Equal("0", stopped);
    }

    [Fact]
    public async Task AContainersClockIsTheHostsNotItsTemplates()
    {
        // Clones restore a template saved minutes (or, across test runs, days) ago, clock included.
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var guest = long.Parse((await DockerAsync("run", "--rm", "busybox", "date", "+%s")).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.InRange(guest, before - 2, after + 2);
    }

    [Fact]
    public async Task AddHostNamesResolveIncludingTheHostGateway()
    {
        var run = await DockerAsync("run", "--rm", "--add-host", "db.local:10.9.8.7", "--add-host", "me:host-gateway", "busybox",
            "sh", "-c", "ping -c 1 -W 1 db.local 2>&1 | head -1; grep -E 'db.local|me$' /etc/hosts");

        Assert.StartsWith("PING db.local (10.9.8.7)", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("10.9.8.7\tdb.local\n", run.StandardOutput, StringComparison.Ordinal);
        Assert.Matches(@"\n\d+\.\d+\.\d+\.\d+\tme\n", run.StandardOutput);
    }

    [Fact]
    public async Task StdinHostnameEnvWorkdirAndUserReachTheProcess()
    {
        var cat = await Command.RunAsync("docker", ["-H", Host, "run", "--rm", "-i", "busybox", "cat"], standardInput: "round trip\n");
        var identity = await DockerAsync("run", "--rm", "--hostname", "web", "-e", "GREETING=hi", "-w", "/tmp/work", "-u", "nobody", "busybox",
            "sh", "-c", "hostname; grep web /etc/hosts; echo $GREETING; pwd; id -u");

        Assert.True(cat.ExitCode == 0, cat.ToString());
        Assert.Equal("round trip\n", cat.StandardOutput);
        Assert.Matches(@"^web\n172\.17\.0\.\d+\tweb\nhi\n/tmp/work\n65534\n$", identity.StandardOutput); // /etc/hosts names the container by its bridge address
    }

    [Fact]
    public async Task DetachedContainersLogWaitStopAndRemove()
    {
        var id = (await DockerAsync("run", "-d", "--name", "ticker", "-l", "team=blue", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done")).StandardOutput.Trim();

        var followed = await DockerAsync("logs", "-f", "ticker");
        var waited = await DockerAsync("wait", "ticker");
        var stamped = await DockerAsync("logs", "-t", "--tail", "1", "ticker");
        using var inspect = JsonDocument.Parse((await DockerAsync("inspect", "ticker")).StandardOutput);
        var ps = await DockerAsync("ps", "-a", "--filter", "name=ticker", "--format", "{{.Names}} {{.Status}}");

        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Equal("line 1\nline 2\nline 3\n", followed.StandardOutput);
        Assert.Equal("0\n", waited.StandardOutput);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 3\n$", stamped.StandardOutput);
        Assert.Equal("blue", inspect.RootElement[0].GetProperty("Config").GetProperty("Labels").GetProperty("team").GetString());
        Assert.Equal("exited", inspect.RootElement[0].GetProperty("State").GetProperty("Status").GetString());
        Assert.StartsWith("ticker Exited (0) ", ps.StandardOutput, StringComparison.Ordinal);

        await DockerAsync("rm", "ticker");
        Assert.Equal("", (await DockerAsync("ps", "-aq", "--filter", "name=ticker")).StandardOutput);
    }

    [Fact]
    public async Task StopSignalsTheProcessAndRmForceEndsARunningOne()
    {
        await DockerAsync("run", "-d", "--name", "trapper", "busybox", "sh", "-c", "trap 'echo bye; exit 5' TERM; echo ready; while true; do sleep 0.1; done");
        await DockerAsync("run", "-d", "--name", "sleeper", "busybox", "sleep", "600");
        var running = await DockerAsync("ps", "--filter", "name=trapper|sleeper", "--format", "{{.Names}}");

        // The trap must be set before the signal comes, or sh dies of it (143).
        for (var i = 0; i < 100 && !(await DockerAsync("logs", "trapper")).StandardOutput.Contains("ready", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }

        await DockerAsync("stop", "trapper");
        var refused = await Command.DockerAsync(Host, "rm", "sleeper");
        await DockerAsync("rm", "-f", "sleeper");

        Assert.Equal(["sleeper", "trapper"], running.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        Assert.Equal("5\n", (await DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "trapper")).StandardOutput);
        Assert.Equal("ready\nbye\n", (await DockerAsync("logs", "trapper")).StandardOutput);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("container is running: stop the container before removing or force remove", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("trapper\n", (await DockerAsync("ps", "-a", "--filter", "name=trapper|sleeper", "--format", "{{.Names}}")).StandardOutput);
        await DockerAsync("rm", "trapper");
    }

    [Fact]
    public async Task ExecRunsBesideTheMainProcessWithDockersExitCodes()
    {
        await DockerAsync("run", "-d", "--name", "host", "busybox", "sleep", "600");

        var hello = await DockerAsync("exec", "host", "echo", "from exec");
        var codes = new List<int>();
        for (var code = 1; code <= 9; code++)
        {
            codes.Add((await Command.DockerAsync(Host, "exec", "host", "sh", "-c", $"exit {code}")).ExitCode);
        }

        var missing = await Command.DockerAsync(Host, "exec", "host", "nosuch");
        var piped = await Command.RunAsync("docker", ["-H", Host, "exec", "-i", "host", "cat"], standardInput: "piped\n");
        var shaped = await DockerAsync("exec", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "host", "sh", "-c", "echo $X; pwd; id -u");
        await DockerAsync("exec", "-d", "host", "sh", "-c", "echo detached > /tmp/d");
        await Task.Delay(1000);
        var detached = await DockerAsync("exec", "host", "cat", "/tmp/d");
        var tty = await DockerAsync("exec", "-t", "host", "tty");

        Assert.Equal("from exec\n", hello.StandardOutput);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9], codes);
        Assert.Equal(126, missing.ExitCode); // dockerd's for any exec that did not start
        Assert.Contains("exec: \"nosuch\": executable file not found in $PATH", missing.StandardOutput + missing.StandardError, StringComparison.Ordinal);
        Assert.Equal("piped\n", piped.StandardOutput);
        Assert.Equal("1\n/tmp\n65534\n", shaped.StandardOutput);
        Assert.Equal("detached\n", detached.StandardOutput);
        Assert.Matches(@"^/dev/pts/\d+\r\n$", tty.StandardOutput);
        await DockerAsync("rm", "-f", "host");
    }

    [Fact]
    public async Task DockerPyRunsInspectsAndRemovesAContainer()
    {
        var script = string.Join(
            "\n",
            "import docker",
            $"client = docker.DockerClient(base_url='{Host}')",
            "out = client.containers.run('busybox', ['echo', 'from docker-py'], remove=False, name='pyc')",
            "c = client.containers.get('pyc')",
            "print(out.decode().strip(), c.attrs['State']['ExitCode'], c.name)",
            "c.remove()",
            "print(len(client.containers.list(all=True, filters={'name': 'pyc'})))");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script], timeout: TimeSpan.FromMinutes(3));

        Assert.True(result.ExitCode == 0, result.ToString() + Vch.Endpoint.Output);
        Assert.Equal("from docker-py 0 pyc\n0\n", result.StandardOutput);
    }

    [Fact]
    public async Task DockerPyAttachWithLogsAndExecRunGetTheOutputThatWasReadyBeforeTheHead()
    {
        // docker-py reads a stream's head through a buffered reader and the rest from the bare
        // socket: output sent on the head's heels was lost, so these answered b'' nearly every time.
        var script = string.Join(
            "\n",
            "import docker",
            $"api = docker.APIClient(base_url='{Host}', version='1.41')",
            "c = api.create_container('busybox', ['sh', '-c', 'echo one; echo two'])",
            "api.start(c)",
            "api.wait(c)",
            "print([api.attach(c, stream=False, logs=True) for _ in range(5)])",
            "api.remove_container(c)",
            $"client = docker.DockerClient(base_url='{Host}')",
            "r = client.containers.run('busybox', ['sleep', '60'], detach=True)",
            "print([r.exec_run(['echo', 'hello']).output for _ in range(3)])",
            "r.remove(force=True)");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script], timeout: TimeSpan.FromMinutes(3));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            "[b'one\\ntwo\\n', b'one\\ntwo\\n', b'one\\ntwo\\n', b'one\\ntwo\\n', b'one\\ntwo\\n']\n[b'hello\\n', b'hello\\n', b'hello\\n']\n",
            result.StandardOutput);
    }

    [Fact]
    public async Task DockerPyInspectsADistributionFromTheRegistryWithoutPullingIt()
    {
        var script = string.Join(
            "\n",
            "import docker",
            $"client = docker.APIClient(base_url='{Host}')",
            "d = client.inspect_distribution('busybox:latest')",
            "print(d['Descriptor']['mediaType'], d['Descriptor']['digest'].startswith('sha256:'), d['Descriptor']['size'] > 0)",
            "print([(p['os'], p['architecture']) for p in d['Platforms']])",
            "try:",
            $"    client.inspect_distribution('{Vch.RegistryHost}/nosuch/image:1')",
            "except docker.errors.APIError as e:",
            "    print(e.status_code)");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script], timeout: TimeSpan.FromMinutes(3));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("application/vnd.oci.image.manifest.v1+json True True\n[('linux', 'amd64')]\n404\n", result.StandardOutput);
    }

    private Task<CommandResult> DockerAsync(params string[] arguments) => Vch.DockerAsync(arguments);

    [Fact]
    public async Task SixteenConcurrentDetachedRunsWithRmAllSucceedAndLeaveNothing()
    {
        var runs = Enumerable.Range(0, 16).Select(i => Command.DockerAsync(Host, "run", "-d", "--rm", "--name", $"many-{i}", "busybox", "sh", "-c", "sleep 2")).ToList();
        var results = await Task.WhenAll(runs);
        var running = (await DockerAsync("ps", "--filter", "name=many-", "-q")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        for (var i = 0; i < 300 && (await DockerAsync("ps", "-a", "--filter", "name=many-", "-q")).StandardOutput.Length > 0; i++)
        {
            await Task.Delay(200);
        }

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.ToString()));
        Assert.InRange(running, 1, 16);
        Assert.Equal("", (await DockerAsync("ps", "-a", "--filter", "name=many-", "-q")).StandardOutput);
    }

    [Fact]
    public async Task StopSignalStopTimeoutAndInitBehaveAsOnDockerd()
    {
        await DockerAsync("run", "-d", "--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c", "trap 'echo got usr1; exit 3' USR1; echo ready; while true; do sleep 0.1; done");
        await DockerAsync("run", "-d", "--name", "stubborn", "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done");
        foreach (var name in new[] { "usr1", "stubborn" })
        {
            for (var i = 0; i < 100 && !(await DockerAsync("logs", name)).StandardOutput.Contains("ready", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }
        }

        await DockerAsync("stop", "usr1");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await DockerAsync("stop", "stubborn");
        var stopTook = watch.Elapsed;
        var zombies = await DockerAsync("run", "--rm", "--init", "busybox", "sh", "-c", "(sleep 0.1 &); sleep 1; ps -o stat | grep -c '^Z' || true");

        Assert.Equal("3 ready\ngot usr1", $"{(await DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "usr1")).StandardOutput.Trim()} {(await DockerAsync("logs", "usr1")).StandardOutput.Trim()}");
        Assert.Equal("137\n", (await DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "stubborn")).StandardOutput);
        Assert.True(stopTook < TimeSpan.FromSeconds(9), $"--stop-timeout 1 is the default for stop; it took {stopTook}");
        Assert.Equal("0\n", zombies.StandardOutput);
        await DockerAsync("rm", "usr1", "stubborn");
    }

    /// <remarks>
    /// Raw API: the docker CLI reads detach keys itself on a terminal; the daemon's side is what
    /// this checks, on a container with a TTY (dockerd looks for them only there).
    /// </remarks>
    [Fact]
    public async Task DetachKeysLeaveATtyContainerRunningWithItsStdinOpen()
    {
        await DockerAsync("run", "-d", "-i", "-t", "--name", "listener", "busybox", "cat");
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync("127.0.0.1", Vch.Endpoint.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            "POST /v1.47/containers/listener/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x%2Cx HTTP/1.1\r\nHost: vch\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"));
        var head = await ReadUntilAsync(stream, "\r\n\r\n");
        await stream.WriteAsync("hello\n"u8.ToArray());

        // The terminal's echo, then cat's copy.
        var echoed = await ReadUntilAsync(stream, "hello\r\nhello\r\n");
        await stream.WriteAsync(new byte[] { 0x18, (byte)'x' });
        var rest = await ReadUntilAsync(stream, "never");
        var state = (await DockerAsync("inspect", "-f", "{{.State.Status}}", "listener")).StandardOutput;

        // Its stdin is still open: a second client's line reaches cat.
        using var second = new System.Net.Sockets.TcpClient();
        await second.ConnectAsync("127.0.0.1", Vch.Endpoint.Port);
        var again = second.GetStream();
        await again.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            "POST /v1.47/containers/listener/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: vch\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"));
        await ReadUntilAsync(again, "\r\n\r\n");
        await again.WriteAsync("second\n"u8.ToArray());
        var secondEchoed = await ReadUntilAsync(again, "second\r\nsecond\r\n");
        await DockerAsync("rm", "-f", "listener");

        Assert.StartsWith("HTTP/1.1 101 UPGRADED", head, StringComparison.Ordinal);
        Assert.EndsWith("hello\r\nhello\r\n", echoed, StringComparison.Ordinal);
        Assert.Equal("", rest);
        Assert.Equal("running\n", state);
        Assert.EndsWith("second\r\nsecond\r\n", secondEchoed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AContainerThatRunsOutOfMemoryIsOomKilledWithTheOomEvent()
    {
        var since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds();
        var run = await Command.DockerAsync(Host, "run", "--name", "oomer", "-m", "160m", "busybox", "sh", "-c", "tail /dev/zero");
        var state = (await DockerAsync("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oomer")).StandardOutput;
        var until = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds();
        var events = (await DockerAsync("events", "--since", $"{since}", "--until", $"{until}", "--filter", "container=oomer", "--format", "{{.Action}}")).StandardOutput;
        await DockerAsync("rm", "oomer");

        Assert.Equal(137, run.ExitCode);
        Assert.Equal("true 137\n", state);
        Assert.Contains("oom\ndie\n", events, StringComparison.Ordinal);
    }

    /// <summary>
    /// Without a TTY stdin is data: a binary file piped to <c>docker run -i</c> arrives whole, its
    /// ctrl-p ctrl-q pairs (the default detach keys) included. (They detached the client midway, and
    /// the container waited for the rest for ever.)
    /// </summary>
    [Fact]
    public async Task ABinaryFilePipedToRunIArrivesWholeDetachKeysAndAll()
    {
        var data = new byte[3 << 20];
        new Random(12).NextBytes(data);
        for (var i = 0; i < data.Length - 1; i += 4096)
        {
            data[i] = 0x10;
            data[i + 1] = 0x11;
        }

        var path = Path.Combine(Path.GetTempPath(), $"stdin-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, data);
        try
        {
            var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
            var result = await Command.RunAsync("sh", ["-c", $"docker -H {Host} run --rm -i busybox sha256sum < {path}"], timeout: TimeSpan.FromMinutes(3));

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal($"{expected}  -\n", result.StandardOutput);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Reads until <paramref name="marker"/> has arrived or the peer closes; returns what came.</summary>
    private static async Task<string> ReadUntilAsync(System.Net.Sockets.NetworkStream stream, string marker)
    {
        var received = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!received.ToString().Contains(marker, StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, limit.Token);
            if (read == 0)
            {
                break;
            }

            received.Append(System.Text.Encoding.Latin1.GetString(buffer, 0, read));
        }

        return received.ToString();
    }
}
