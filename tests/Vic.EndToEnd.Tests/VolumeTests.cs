using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>Volumes as ext4 VMDKs attached to ContainerVMs, with the real docker CLI.</summary>
public sealed class VolumeTests(QemuVchFixture fixture) : IClassFixture<QemuVchFixture>
{
    private QemuVch Vch => fixture.Vch;

    [Fact]
    public async Task ANamedVolumeKeepsDataAcrossContainersAndIsRefusedRemovalWhileInUse()
    {
        var created = (await Vch.DockerAsync("volume", "create", "--opt", "Capacity=64MB", "--label", "team=a", "data")).StandardOutput;
        var write = await Vch.DockerAsync("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f; df -m /data | tail -1");
        var read = await Vch.DockerAsync("run", "--rm", "-v", "data:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/x 2>/dev/null || echo read-only");
        var listed = (await Vch.DockerAsync("volume", "ls", "--filter", "label=team=a", "-q")).StandardOutput;
        var inspect = (await Vch.DockerAsync("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Options.Capacity}}", "data")).StandardOutput;
        await Vch.DockerAsync("create", "--name", "holder", "-v", "data:/data", "busybox", "true");
        var refused = await Vch.TryDockerAsync("volume", "rm", "data");
        var mounts = (await Vch.DockerAsync("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}", "holder")).StandardOutput;
        var filtered = (await Vch.DockerAsync("ps", "-a", "--filter", "volume=data", "--format", "{{.Names}}")).StandardOutput;
        var df = (await Vch.DockerAsync("system", "df", "-v", "--format", "{{range .Volumes}}{{.Name}} {{.Links}}\n{{end}}")).StandardOutput;
        await Vch.DockerAsync("rm", "holder");
        await Vch.DockerAsync("volume", "rm", "data");

        Assert.Equal("data\n", created);
        var size = int.Parse(write.StandardOutput.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(size, 40, 64);
        Assert.Equal("kept\nread-only\n", read.StandardOutput);
        Assert.Equal("data\n", listed);
        Assert.Equal("data local 64MB\n", inspect);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("remove data: volume is in use", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("volume data /data true\n", mounts);
        Assert.Equal("holder\n", filtered);
        Assert.Contains("data 1\n", df, StringComparison.Ordinal);
        Assert.DoesNotContain("data", (await Vch.DockerAsync("volume", "ls", "-q")).StandardOutput.Split('\n'));
    }

    [Fact]
    public async Task AnAnonymousVolumeStartsWithTheImagesContentAndGoesWithRmV()
    {
        var run = await Vch.DockerAsync("run", "--name", "anon", "-v", "/etc", "busybox", "sh", "-c", "grep -c root /etc/passwd; echo added > /etc/extra");
        var name = (await Vch.DockerAsync("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon")).StandardOutput.Trim();
        await Vch.DockerAsync("start", "-a", "anon");
        var again = (await Vch.DockerAsync("logs", "anon")).StandardOutput;
        await Vch.DockerAsync("rm", "-v", "anon");
        var left = (await Vch.DockerAsync("volume", "ls", "-q")).StandardOutput;
        await Vch.DockerAsync("run", "--rm", "-v", "/scratchpad", "busybox", "true");
        var pruned = await Vch.DockerAsync("volume", "prune", "-f");

        Assert.StartsWith("1", run.StandardOutput, StringComparison.Ordinal);
        Assert.Matches("^[0-9a-f]{64}$", name);
        Assert.Equal("1\n1\n", again);
        Assert.DoesNotContain(name, left, StringComparison.Ordinal);
        Assert.Contains("Total reclaimed space", pruned.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", (await Vch.DockerAsync("volume", "ls", "-q", "--filter", "dangling=true")).StandardOutput);
    }

    [Fact]
    public async Task AKilledShareDaemonEndsItsContainerAndTheRestartPolicyBringsTheFolderBack()
    {
        using var kept = new TempDirectory("share-kept");
        using var lost = new TempDirectory("share-lost");
        File.WriteAllText(kept.Combine("f"), "shared\n");
        File.WriteAllText(lost.Combine("f"), "shared\n");
        await Vch.DockerAsync("run", "-d", "--name", "healed", "--restart", "always", "-v", $"{kept.Path}:/data", "busybox", "sleep", "600");
        await Vch.DockerAsync("run", "-d", "--name", "ended", "-v", $"{lost.Path}:/data", "busybox", "sleep", "600");
        var keptDaemon = ContainerVmProcesses.SharingDaemon(kept.Path);
        var lostDaemon = ContainerVmProcesses.SharingDaemon(lost.Path);
        Assert.True(keptDaemon > 0 && lostDaemon > 0, $"virtiofsd not found: {keptDaemon} {lostDaemon}"); // never kill 0

        // Without its daemon every access to the folder would hang for good: the container ends
        // instead (137), and one with a restart policy comes back with the folder shared anew.
        await Command.RunAsync("kill", ["-9", keptDaemon.ToString(System.Globalization.CultureInfo.InvariantCulture), lostDaemon.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var ended = await Eventually.WaitForAsync(async () => (await Vch.DockerAsync("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ended")).StandardOutput.Trim(), s => s.StartsWith("exited", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var restarted = await Eventually.WaitForAsync(async () => (await Vch.DockerAsync("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "healed")).StandardOutput.Trim(), s => s == "1 running", TimeSpan.FromSeconds(60));
        var readAgain = (await Vch.DockerAsync("exec", "healed", "cat", "/data/f")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "healed", "ended");

        Assert.Equal("exited 137", ended);
        Assert.Equal("1 running", restarted);
        Assert.Equal("shared\n", readAgain);
    }

    [Fact]
    public async Task AHostFolderIsSharedBothWaysAlsoAcrossAnEndpointCrash()
    {
        using var host = new TempDirectory("bind");
        File.WriteAllText(host.Combine("from-host"), "host-wrote\n");
        File.WriteAllText(host.Combine("app.conf"), "setting=1\n");
        var created = host.Combine("made", "by-run");

        await Vch.DockerAsync("run", "-d", "--name", "binder", "-v", $"{host.Path}:/data", "-v", $"{created}:/made", "busybox", "sh", "-c", "echo container-wrote > /data/from-container; touch /made/here; exec sleep 600");
        var seen = await Eventually.WaitForAsync(() => Task.FromResult(File.Exists(host.Combine("from-container")) ? File.ReadAllText(host.Combine("from-container")) : ""), s => s.Length > 0, TimeSpan.FromSeconds(20));
        File.WriteAllText(host.Combine("later"), "written-while-running\n");
        var live = (await Vch.DockerAsync("exec", "binder", "cat", "/data/from-host", "/data/later")).StandardOutput;
        var mounts = (await Vch.DockerAsync("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}};{{end}}", "binder")).StandardOutput.Trim();

        await Vch.CrashAndRestartAsync(() =>
        {
            File.WriteAllText(host.Combine("during-crash"), "still-shared\n");
            return Task.CompletedTask;
        });
        var afterCrash = (await Vch.DockerAsync("exec", "binder", "cat", "/data/during-crash")).StandardOutput;
        await Vch.DockerAsync("rm", "-f", "binder");

        var readOnly = await Vch.DockerAsync(
            "run", "--rm", "-v", $"{host.Path}:/data:ro", "-v", $"{host.Combine("app.conf")}:/etc/app.conf", "busybox", "sh", "-c",
            "cat /etc/app.conf; echo x > /data/refused 2>/dev/null || echo read-only; echo setting=2 >> /etc/app.conf");
        var viaMount = await Vch.DockerAsync("run", "--rm", "--mount", $"type=bind,source={host.Path},target=/m,readonly", "busybox", "cat", "/m/from-host");
        var missing = await Vch.TryDockerAsync("run", "--rm", "--mount", $"type=bind,source={host.Combine("nope")},target=/m", "busybox", "true");

        Assert.Equal("container-wrote\n", seen);
        Assert.Equal("host-wrote\nwritten-while-running\n", live);
        Assert.Equal(new[] { $"bind {created} /made true", $"bind {host.Path} /data true" }.Order(StringComparer.Ordinal), mounts.Split(';', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        Assert.Equal("still-shared\n", afterCrash);
        Assert.True(File.Exists(Path.Combine(created, "here")));
        Assert.Equal("setting=1\nread-only\n", readOnly.StandardOutput);
        Assert.False(File.Exists(host.Combine("refused")));
        Assert.Equal("setting=1\nsetting=2\n", File.ReadAllText(host.Combine("app.conf")));
        Assert.Equal("host-wrote\n", viaMount.StandardOutput);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains($"bind source path does not exist: {host.Combine("nope")}", missing.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnNfsVolumeIsAFolderOnTheExportThatContainersMountAndShare()
    {
        var folder = Path.Combine(Vch.Nfs.ExportDirectory, "vch", "volumes", "nv");

        await Vch.DockerAsync("volume", "create", "--opt", "VolumeStore=shared", "nv");
        var madeOnTheServer = Directory.Exists(folder);
        await Vch.DockerAsync("run", "-d", "--name", "nfs-holder", "-v", "nv:/data", "busybox", "sh", "-c", "echo from-first > /data/f; exec sleep 600");
        var written = await Eventually.WaitForAsync(() => Task.FromResult(File.Exists(Path.Combine(folder, "f")) ? File.ReadAllText(Path.Combine(folder, "f")) : ""), s => s.Length > 0, TimeSpan.FromSeconds(30));
        var alongside = await Vch.DockerAsync("run", "--rm", "-v", "nv:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/x 2>/dev/null || echo read-only; mount | grep -c ' /data type nfs4'");
        var inspect = (await Vch.DockerAsync("volume", "inspect", "-f", "{{.Mountpoint}} {{.Options.VolumeStore}}", "nv")).StandardOutput.Trim();
        var inUse = await Vch.TryDockerAsync("volume", "rm", "nv");
        await Vch.DockerAsync("rm", "-f", "nfs-holder");
        await Vch.DockerAsync("volume", "rm", "nv");
        var unknownStore = await Vch.TryDockerAsync("volume", "create", "--opt", "VolumeStore=nosuch", "lost");

        Assert.True(madeOnTheServer);
        Assert.Equal("from-first\n", written);
        Assert.Equal("from-first\nread-only\n1\n", alongside.StandardOutput);
        Assert.Equal($"nfs://127.0.0.1:{Vch.Nfs.Port}{NfsServer.ExportPath}/vch/volumes/nv shared", inspect);
        Assert.Contains("volume is in use", inUse.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
        Assert.Contains("No volume store named (nosuch) exists", unknownStore.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadVolumeNamesAreRefusedWithClearWords()
    {
        var badName = await Vch.TryDockerAsync("volume", "create", "bad/name");
        var missing = await Vch.TryDockerAsync("volume", "inspect", "nosuch");
        var relative = await Vch.TryDockerAsync("run", "--rm", "--mount", "type=bind,source=,target=/m", "busybox", "true");

        Assert.Contains("includes invalid characters for a local volume name", badName.StandardError, StringComparison.Ordinal);
        Assert.Contains("no such volume", missing.StandardError, StringComparison.Ordinal);
        Assert.NotEqual(0, relative.ExitCode);
    }
}
