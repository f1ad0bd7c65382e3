using System.Formats.Tar;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// <c>docker build</c> with the classic builder (what docker CLI 28 uses with DOCKER_BUILDKIT=0 or
/// without buildx) and <c>docker-compose build</c>, against the VCH: every RUN in a ContainerVM,
/// every step an image found again by the build cache, a Debian image with its package database and
/// Debian's nginx serving what the build copied in.
/// </summary>
public sealed class DockerBuildTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>, IDisposable
{
    private static readonly string DockerConfig = Directory.CreateTempSubdirectory("docker-build-config-").FullName;

    private readonly TempDirectory _work = new("vch-build");

    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task AMultiStageDebianBuildServesItsFilesWithNginxAndARebuildIsAllCache()
    {
        await Vch.SeedDebianAsync();
        var context = Context("web", new()
        {
            ["index.html"] = "<h1>built on a VCH</h1>\n",
            ["rootfs/bin/hello-tool"] = "#!/bin/sh\necho hello-tool\n",
            [".env"] = "secret\n",
            ["debug.log"] = "noise\n",
            [".dockerignore"] = ".env\n*.log\n",
            ["Dockerfile"] = """
                ARG BASE=nginx
                FROM debian:bookworm AS tools
                RUN useradd -m -u 1234 builder \
                    && mkdir -p /out \
                    && echo "made by $(id -un builder) with $(dpkg-query -W -f='${Version}' libc6)" > /out/who.txt \
                    && cat /out/who.txt
                FROM ${BASE}
                ARG VERSION=1.0
                LABEL org.example.version=$VERSION
                COPY --from=tools /out/who.txt /var/www/html/
                COPY --chown=www-data:www-data index.html /var/www/html/index.html
                COPY . /context/
                COPY index.html /tmp/copied.html
                COPY --chown=1234:1234 index.html /bin/copied-into-bin
                COPY rootfs/ /
                RUN test -x /bin/sh && test -f /usr/bin/hello-tool && test ! -e /context/.env && test ! -e /context/debug.log && stat -c '%U:%G' /var/www/html/index.html \
                    && echo "tmp $(stat -c '%a' /tmp) bin-is-a-link $(test -L /bin && echo yes) owner $(stat -c '%u:%g' /usr/bin/copied-into-bin)"
                EXPOSE 80
                """,
        });

        var first = await BuildAsync(context, "--build-arg", "VERSION=2.5", "-t", "web:1", ".");
        var again = await BuildAsync(context, "--build-arg", "VERSION=2.5", "-t", "web:1", ".");
        var port = EndpointProcess.FreePort();
        await Vch.DockerAsync("run", "-d", "--name", "built-web", "-p", $"{port}:80", "web:1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var page = await Eventually.WaitForAsync(() => GetAsync(http, $"http://127.0.0.1:{port}/"), p => p.Contains("built on a VCH", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        var who = await GetAsync(http, $"http://127.0.0.1:{port}/who.txt");
        var label = (await Vch.DockerAsync("inspect", "-f", "{{index .Config.Labels \"org.example.version\"}} {{json .Config.ExposedPorts}}", "web:1")).StandardOutput.Trim();
        await Vch.DockerAsync("rm", "-f", "built-web");

        Assert.Contains("Step 1/14 : ARG BASE=nginx", first.StandardOutput, StringComparison.Ordinal);
        // dockerd's order: a RUN's container is removed, then its image is announced.
        var runs = System.Text.RegularExpressions.Regex.Matches(first.StandardOutput, @"---> Running in ([0-9a-f]{12})").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(runs);
        Assert.All(runs, id => Assert.Matches($@"Removing intermediate container {id}\r?\n ---> [0-9a-f]{{12}}", first.StandardOutput));
        Assert.Contains("tmp 1777 bin-is-a-link yes owner 1234:1234", first.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("made by builder with 2.36", first.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("www-data:www-data", first.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Successfully tagged web:1", first.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(11, again.StandardOutput.Split("---> Using cache").Length - 1);
        Assert.Equal(BuiltId(first), BuiltId(again));
        Assert.StartsWith("made by builder with 2.36", who, StringComparison.Ordinal);
        Assert.Equal("2.5 {\"80/tcp\":{}}", label);
    }

    [Fact]
    public async Task EveryInstructionLandsInTheImageAndAChangedFileInvalidatesFromItsCopyOn()
    {
        var data = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(data, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "data.txt") { DataStream = new MemoryStream("from-the-archive\n"u8.ToArray()), Mode = (UnixFileMode)0x1A4 });
        }

        var context = Context("every", new()
        {
            ["app.sh"] = "#!/bin/sh\necho \"$GREETING $1 from $(pwd) as $(id -u)\"\ncat /onbuild.txt /srv/data.txt /srv/app/uid.txt\n",
            ["Dockerfile"] = """
                # escape=\
                ARG BASE=busybox
                FROM ${BASE} AS base
                LABEL stage=base
                ONBUILD RUN echo trigger-ran > /onbuild.txt
                FROM base AS final
                MAINTAINER vic@example.com
                ARG GREETING=hello
                ENV APP_HOME=/srv/app GREETING=${GREETING}
                SHELL ["/bin/sh", "-e", "-c"]
                WORKDIR $APP_HOME
                COPY app.sh ./
                ADD data.tar.gz /srv/
                RUN chmod +x app.sh && echo "runner:x:4321:4321::/srv/app:/bin/sh" >> /etc/passwd && chown runner /srv/app
                USER runner
                RUN id -u > /srv/app/uid.txt
                VOLUME /srv/data
                EXPOSE 8080/tcp 9000-9001/udp
                STOPSIGNAL SIGUSR1
                HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD test -f /srv/app/app.sh
                ENTRYPOINT ["/srv/app/app.sh"]
                CMD ["world"]
                """,
        });
        File.WriteAllBytes(Path.Combine(context, "data.tar.gz"), data.ToArray());

        await BuildAsync(context, "--build-arg", "GREETING=hi", "-t", "every:1", ".");
        var run = await Vch.DockerAsync("run", "--rm", "every:1");
        var inspect = (await Vch.DockerAsync("inspect", "-f",
            "{{.Author}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.Healthcheck.Test}}|{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{json .Config.Shell}}|{{json .Config.OnBuild}}",
            "every:1")).StandardOutput.Trim();
        var history = (await Vch.DockerAsync("history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1")).StandardOutput;
        File.AppendAllText(Path.Combine(context, "app.sh"), "echo changed\n");
        var rebuild = await BuildAsync(context, "--build-arg", "GREETING=hi", "-t", "every:2", ".");
        var changed = await Vch.DockerAsync("run", "--rm", "every:2", "again");

        Assert.Equal(["hi world from /srv/app as 4321", "trigger-ran", "from-the-archive", "4321"], run.StandardOutput.Trim().Split('\n'));
        Assert.Equal(
            "vic@example.com|{\"stage\":\"base\"}|{\"8080/tcp\":{},\"9000/udp\":{},\"9001/udp\":{}}|{\"/srv/data\":{}}|SIGUSR1|[\"CMD-SHELL\",\"test -f /srv/app/app.sh\"]|runner|/srv/app|[\"/srv/app/app.sh\"]|[\"world\"]|[\"/bin/sh\",\"-e\",\"-c\"]|null",
            inspect);
        foreach (var step in new[] { "MAINTAINER vic@example.com", "ENV APP_HOME=/srv/app GREETING=hi", "WORKDIR /srv/app", "COPY file:", "ADD file:", "/bin/sh -e -c id -u > /srv/app/uid.txt", "/bin/sh -c echo trigger-ran > /onbuild.txt", "USER runner", "STOPSIGNAL SIGUSR1" })
        {
            Assert.Contains(step, history, StringComparison.Ordinal);
        }

        var steps = rebuild.StandardOutput.Split("Step ")[1..];
        var copy = Array.FindIndex(steps, s => s.Contains(": COPY app.sh", StringComparison.Ordinal));
        Assert.All(steps[..copy].Where(s => !s.Contains(": FROM", StringComparison.Ordinal) && !s.Contains(": ARG BASE", StringComparison.Ordinal)), s => Assert.Contains("Using cache", s, StringComparison.Ordinal));
        Assert.All(steps[copy..], s => Assert.DoesNotContain("Using cache", s, StringComparison.Ordinal));
        Assert.StartsWith("hi again from /srv/app as 4321", changed.StandardOutput, StringComparison.Ordinal);
        Assert.EndsWith("changed\n", changed.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACopyOfHundredsOfMegabytesArrivesWhole()
    {
        var context = Context("large", new() { ["Dockerfile"] = "FROM busybox\nCOPY big.bin /data/\nRUN sha256sum /data/big.bin\n" });
        var big = new byte[160 << 20];
        new Random(7).NextBytes(big);
        File.WriteAllBytes(Path.Combine(context, "big.bin"), big);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(big));

        var build = await BuildAsync(context, "-t", "large:1", ".");

        Assert.Contains($"{expected}  /data/big.bin", build.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARunThatNeverEndsGoesWithTheClientThatAskedForIt()
    {
        var context = Context("forever", new() { ["Dockerfile"] = "FROM busybox\nRUN echo sleeping-$((6*7)) && sleep 100000\n" });
        await Vch.DockerAsync("container", "prune", "-f");
        var start = new System.Diagnostics.ProcessStartInfo("docker", ["-H", Vch.Host, "build", context]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in Environment())
        {
            start.Environment[key] = value;
        }

        using var client = System.Diagnostics.Process.Start(start)!;
        var seen = new System.Text.StringBuilder();
        var reading = Task.Run(async () =>
        {
            while (await client.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (seen)
                {
                    seen.AppendLine(line);
                }
            }
        });
        await Eventually.WaitForAsync(() => { lock (seen) { return Task.FromResult(seen.ToString().Contains("sleeping-42", StringComparison.Ordinal)); } }, TimeSpan.FromMinutes(2));
        var running = (await Vch.DockerAsync("ps", "-q")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        client.Kill();
        await reading;

        // The step container is removed, and its ContainerVM destroyed with it: nothing runs on.
        await Eventually.WaitForAsync(async () => (await ContainerCountAsync()) == 0, TimeSpan.FromSeconds(60));
        var runningAfter = (await Vch.DockerAsync("info", "-f", "{{.ContainersRunning}}")).StandardOutput.Trim();

        Assert.Equal(1, running);
        Assert.Equal("0", runningAfter);
    }

    [Fact]
    public async Task AFailingRunReportsItsExitCodeAndForceRmLeavesNoContainer()
    {
        var context = Context("fails", new() { ["Dockerfile"] = "FROM busybox\nRUN echo before-failing && exit 7\n" });
        await Vch.DockerAsync("container", "prune", "-f");
        var before = await ContainerCountAsync();

        var kept = await Command.RunAsync("docker", ["-H", Vch.Host, "build", context], Environment(), TimeSpan.FromMinutes(3));
        var keptCount = await ContainerCountAsync();
        await Vch.DockerAsync("container", "prune", "-f");
        var forced = await Command.RunAsync("docker", ["-H", Vch.Host, "build", "--force-rm", context], Environment(), TimeSpan.FromMinutes(3));
        var forcedCount = await ContainerCountAsync();

        Assert.Equal(7, kept.ExitCode); // the CLI exits with the code of errorDetail, as with dockerd
        Assert.Contains("before-failing", kept.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("The command '/bin/sh -c echo before-failing && exit 7' returned a non-zero code: 7", kept.StandardError + kept.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before + 1, keptCount); // dockerd keeps a failed step's container unless --force-rm
        Assert.Equal(7, forced.ExitCode);
        Assert.Equal(before, forcedCount);
    }

    [Fact]
    public async Task DockerfileMistakesAreRefusedWithTheirLineAndLeaveNothingBehind()
    {
        var before = await ContainerCountAsync();
        var unknown = await BuildFailsAsync(new() { ["Dockerfile"] = "FROM busybox\nFETCH http://x\n" });
        var escape = await BuildFailsAsync(new() { ["Dockerfile"] = "FROM busybox\nCOPY ../secret /x\n" });
        var missing = await BuildFailsAsync(new() { ["Dockerfile"] = "FROM busybox\nENV A=1\nCOPY nope.txt /x\n" });
        var noFrom = await BuildFailsAsync(new() { ["Dockerfile"] = "RUN true\n" });
        var platform = await BuildFailsAsync(new() { ["Dockerfile"] = "FROM --platform=linux/arm64 busybox\n" });

        Assert.Contains("unknown instruction: FETCH", unknown, StringComparison.Ordinal);
        Assert.Contains("line 2", unknown, StringComparison.Ordinal);
        Assert.Contains("forbidden path outside the build context: ../secret", escape, StringComparison.Ordinal);
        Assert.Contains("Dockerfile line 3: COPY failed: file not found in build context", missing, StringComparison.Ordinal);
        Assert.Contains("only ARG may come before it", noFrom, StringComparison.Ordinal);
        Assert.Contains("linux/amd64 only", platform, StringComparison.Ordinal);
        Assert.Equal(before, await ContainerCountAsync());
    }

    [Fact]
    public async Task AGitRepositoryIsAContextAndAnAddSourceWithItsRefAndFolder()
    {
        // A repository served by git's own daemon on loopback, as a git host would serve it.
        var served = _work.Combine("git-served");
        var repository = Path.Combine(served, "app.git");
        var made = await Command.RunAsync("sh", ["-c", $"""
            set -e
            git init -q -b main {repository}
            cd {repository}
            mkdir -p sub
            echo 'from the repository' > hello.txt
            printf 'FROM busybox\nCOPY marker.txt /\nCMD ["cat", "/marker.txt"]\n' > sub/Dockerfile
            echo 'built from the sub folder' > sub/marker.txt
            ln -s .. up
            ln -s /etc host-etc
            git add -A
            git -c user.name=t -c user.email=t@e commit -q -m first
            """]);
        Assert.True(made.ExitCode == 0, made.ToString());
        var port = EndpointProcess.FreePort();
        using var daemon = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", ["daemon", "--reuseaddr", "--export-all", $"--base-path={served}", "--listen=127.0.0.1", $"--port={port}", served]))!;
        try
        {
            await Eventually.WaitForAsync(async () => (await Command.RunAsync("git", ["ls-remote", $"git://127.0.0.1:{port}/app.git"])).ExitCode == 0, TimeSpan.FromSeconds(20));
            var url = $"git://127.0.0.1:{port}/app.git";
            var context = Context("git-add", new()
            {
                ["Dockerfile"] = $"FROM busybox\nADD {url}#main /src/\nADD --keep-git-dir=true {url} /kept/\nRUN cat /src/hello.txt && ls -a /src | grep -c '^.git$'; test -d /kept/.git && echo kept-git-dir\n",
            });

            var added = await BuildAsync(context, "--no-cache", "-t", "git-add:1", ".");
            var remote = await Command.RunAsync("docker", ["-H", Vch.Host, "build", "-t", "git-remote:1", $"{url}#main:sub"], Environment(), TimeSpan.FromMinutes(3));
            var fromRemote = remote.ExitCode == 0 ? (await Vch.DockerAsync("run", "--rm", "git-remote:1")).StandardOutput : "";
            var badRef = await Command.RunAsync("docker", ["-H", Vch.Host, "build", $"{url}#no-such-branch"], Environment(), TimeSpan.FromMinutes(3));

            // A folder reached through a symlink in the repository could be one of the VCH's own.
            var climbing = Context("git-climb", new() { ["Dockerfile"] = $"FROM busybox\nADD {url}#main:up/sub /x/\n" });
            var climbed = await Command.RunAsync("docker", ["-H", Vch.Host, "build", climbing], Environment(), TimeSpan.FromMinutes(3));
            var hostFolder = Context("git-host", new() { ["Dockerfile"] = $"FROM busybox\nADD {url}#main:host-etc /x/\n" });
            var tookHost = await Command.RunAsync("docker", ["-H", Vch.Host, "build", hostFolder], Environment(), TimeSpan.FromMinutes(3));

            // The CLI clones a git context itself; docker-py and the API hand the URL to the VCH.
            using var http = new HttpClient { BaseAddress = new Uri(Vch.Host.Replace("tcp://", "http://", StringComparison.Ordinal)), Timeout = TimeSpan.FromMinutes(3) };
            using var byApi = await http.PostAsync(new Uri($"/v1.47/build?t=git-api:1&remote={Uri.EscapeDataString($"{url}#main:sub")}", UriKind.Relative), null);
            var apiStream = await byApi.Content.ReadAsStringAsync();
            var fromApi = byApi.IsSuccessStatusCode ? (await Vch.DockerAsync("run", "--rm", "git-api:1")).StandardOutput : apiStream;
            await Vch.TryDockerAsync("rmi", "git-add:1", "git-remote:1", "git-api:1");

            Assert.Contains("from the repository\n0\nkept-git-dir", added.StandardOutput, StringComparison.Ordinal);
            Assert.True(remote.ExitCode == 0, remote.ToString());
            Assert.Equal("built from the sub folder\n", fromRemote);
            Assert.Equal("built from the sub folder\n", fromApi);
            Assert.NotEqual(0, badRef.ExitCode);
            Assert.Contains("unable to 'git clone'", badRef.StandardError, StringComparison.Ordinal);
            Assert.NotEqual(0, climbed.ExitCode);
            Assert.Contains("up/sub is not a folder of", climbed.StandardError + climbed.StandardOutput, StringComparison.Ordinal);
            Assert.NotEqual(0, tookHost.ExitCode);
            Assert.Contains("host-etc is not a folder of", tookHost.StandardError + tookHost.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            daemon.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Bzip2AndXzContextsOnStdinAndAnAddOfAnXzTarUnpackAsDockerdDoes()
    {
        var context = Context("compressed", new()
        {
            ["Dockerfile"] = "FROM busybox\nADD bundle.tar.xz /opt/\nRUN cat /opt/pkg/data.txt\n",
            ["pkg/data.txt"] = "from the xz tar\n",
        });
        var archives = _work.Combine("archives");
        Directory.CreateDirectory(archives);

        // What a user pipes in: `docker build - < context.tar.xz`; the CLI sends the bytes as they are.
        var made = await Command.RunAsync("sh", ["-c", $"set -e; cd {context}; tar -cf - pkg | xz > bundle.tar.xz; rm -r pkg; tar -cf - . | bzip2 > {archives}/context.tar.bz2; tar -cf - . | xz > {archives}/context.tar.xz"]);
        Assert.True(made.ExitCode == 0, made.ToString());
        var fromBzip2 = await Command.RunAsync("sh", ["-c", $"docker -H {Vch.Host} build -t compressed:bz2 - < {archives}/context.tar.bz2"], Environment(), TimeSpan.FromMinutes(3));
        var fromXz = await Command.RunAsync("sh", ["-c", $"docker -H {Vch.Host} build --no-cache -t compressed:xz - < {archives}/context.tar.xz"], Environment(), TimeSpan.FromMinutes(3));
        await Vch.TryDockerAsync("rmi", "compressed:bz2", "compressed:xz");

        Assert.True(fromBzip2.ExitCode == 0, fromBzip2.ToString());
        Assert.True(fromXz.ExitCode == 0, fromXz.ToString());
        Assert.Contains("from the xz tar", fromBzip2.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("from the xz tar", fromXz.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScratchStdinDockerfileTargetOnbuildAndAddOfATar()
    {
        var archive = new MemoryStream();
        using (var writer = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "pkg/data.txt") { DataStream = new MemoryStream("from the tar\n"u8.ToArray()), Mode = (UnixFileMode)0x1A4 });
        }

        var context = Context("scratch", new() { ["ignored.txt"] = "x" });
        File.WriteAllBytes(Path.Combine(context, "bundle.tar"), archive.ToArray());
        var dockerfile = """
            FROM busybox AS bb
            FROM scratch AS minimal
            COPY --from=bb /bin/busybox /bin/busybox
            ENTRYPOINT ["/bin/busybox"]
            CMD ["echo", "hello from scratch"]
            FROM bb AS parent
            ONBUILD RUN echo "trigger ran" > /trigger.txt
            FROM bb AS unpacked
            ADD bundle.tar /opt/
            RUN cat /opt/pkg/data.txt
            FROM bb AS picked
            COPY --from=unpacked /opt/pkg/*.txt /picked/
            RUN echo "picked $(ls /picked)"
            """;

        var minimal = await BuildAsync(context, "-f", "-", "--target", "minimal", "-t", "minimal:1", dockerfile, ".");
        var fromScratch = await Vch.DockerAsync("run", "--rm", "minimal:1");
        var layers = (await Vch.DockerAsync("inspect", "-f", "{{len .RootFS.Layers}}", "minimal:1")).StandardOutput.Trim();
        await BuildAsync(context, "-f", "-", "--target", "parent", "-t", "parent:1", dockerfile, ".");
        var child = Context("child", new() { ["Dockerfile"] = "FROM parent:1\nCMD [\"cat\", \"/trigger.txt\"]\n" });
        var childBuild = await BuildAsync(child, "-t", "child:1", ".");
        var trigger = await Vch.DockerAsync("run", "--rm", "child:1");
        var unpacked = await BuildAsync(context, "-f", "-", "--target", "picked", dockerfile, ".");

        Assert.Equal("hello from scratch", fromScratch.StandardOutput.Trim());
        Assert.Equal("1", layers);
        Assert.DoesNotContain("Step 6/", minimal.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("# Executing 1 build trigger", childBuild.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("trigger ran", trigger.StandardOutput.Trim());
        Assert.Contains("from the tar", unpacked.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("picked data.txt", unpacked.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ComposeBuildsAndStartsATwoServiceProjectAndBuilderPruneFreesTheCache()
    {
        var project = Context("compose-build", new()
        {
            ["api/Dockerfile"] = "FROM busybox\nRUN mkdir -p /www && echo api-answer > /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
            ["app/Dockerfile"] = "FROM busybox\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\nCMD [\"sh\", \"-c\", \"cat /greeting; until wget -qO- http://api/; do sleep 1; done\"]\n",
            ["docker-compose.yml"] = """
                version: "2.4"
                services:
                  api:
                    build: ./api
                  app:
                    build:
                      context: ./app
                      args:
                        GREETING: hello-from-compose
                    image: composed:1
                    depends_on:
                      - api
                """,
        });
        var environment = new Dictionary<string, string> { ["DOCKER_HOST"] = Vch.Host, ["COMPOSE_PROJECT_NAME"] = "built" };
        Task<CommandResult> Compose(params string[] arguments) => Command.RunAsync("docker-compose", ["-f", Path.Combine(project, "docker-compose.yml"), .. arguments], environment, TimeSpan.FromMinutes(4));

        var build = await Compose("build");
        var up = await Compose("up", "--build", "--no-color", "--abort-on-container-exit", "--exit-code-from", "app");
        await Compose("down");
        var intermediates = (await Vch.DockerAsync("images", "-a", "-q", "--filter", "dangling=true")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        var prune = await Vch.DockerAsync("builder", "prune", "-f");
        var left = (await Vch.DockerAsync("images", "-a", "-q", "--filter", "dangling=true")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        var stillRuns = await Vch.DockerAsync("run", "--rm", "--entrypoint", "cat", "composed:1", "/greeting");

        Assert.True(build.ExitCode == 0, build.ToString());
        Assert.Contains("Successfully tagged composed:1", build.StandardOutput + build.StandardError, StringComparison.Ordinal);
        Assert.Contains("Successfully tagged built_api:latest", build.StandardOutput + build.StandardError, StringComparison.Ordinal);
        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Contains("hello-from-compose", up.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("api-answer", up.StandardOutput, StringComparison.Ordinal);
        Assert.True(intermediates >= 3, $"{intermediates} intermediate images");
        Assert.Contains("Total reclaimed space:", prune.StandardOutput, StringComparison.Ordinal);
        Assert.True(left < intermediates, $"{left} of {intermediates} intermediate images left");
        Assert.Equal("hello-from-compose", stillRuns.StandardOutput.Trim());
    }

    public void Dispose() => _work.Dispose();

    private static Dictionary<string, string> Environment() => new() { ["DOCKER_BUILDKIT"] = "0", ["DOCKER_CONFIG"] = DockerConfig };

    private static string BuiltId(CommandResult build) =>
        build.StandardOutput.Split('\n').Last(l => l.StartsWith("Successfully built ", StringComparison.Ordinal))["Successfully built ".Length..].Trim();

    private static async Task<string> GetAsync(HttpClient http, string url)
    {
        try
        {
            return await http.GetStringAsync(new Uri(url));
        }
        catch (HttpRequestException)
        {
            return "";
        }
    }

    private string Context(string name, Dictionary<string, string> files)
    {
        var root = _work.Combine(name);
        foreach (var (path, content) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, path))!);
            File.WriteAllText(Path.Combine(root, path), content);
        }

        return root;
    }

    /// <summary>docker build in <paramref name="context"/>; with <c>-f -</c> the argument after the options is the Dockerfile, sent on stdin.</summary>
    private async Task<CommandResult> BuildAsync(string context, params string[] arguments)
    {
        var stdin = arguments.Contains("-") ? arguments[^2] : null;
        var options = stdin is null ? arguments : [.. arguments[..^2], arguments[^1]];
        var result = await Command.RunAsync("docker", ["-H", Vch.Host, "build", .. options], Environment(), TimeSpan.FromMinutes(5), stdin, context);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    private async Task<string> BuildFailsAsync(Dictionary<string, string> files)
    {
        var context = Context($"bad-{Guid.NewGuid():N}", files);
        var result = await Command.RunAsync("docker", ["-H", Vch.Host, "build", context], Environment(), TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode != 0, result.ToString());
        return result.StandardError + result.StandardOutput;
    }

    private async Task<int> ContainerCountAsync() =>
        (await Vch.DockerAsync("ps", "-aq")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
}
