using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The endpoint is SIGKILLed while a create, a start, an rm, a volume create, a commit, a cp into a
/// container or a push is under way, and started again. Wherever the kill lands, what the user asked for either happened whole
/// or not at all: the container, volume or image works or is absent, its name can be used again,
/// and no ContainerVM is left running for a container that is not.
/// </summary>
public sealed class EndpointKilledMidOperationTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-midop");
    private QemuVch _vch = null!;

    public async Task InitializeAsync() => _vch = await QemuVch.StartAsync(_home);

    public async Task DisposeAsync() => await _vch.DisposeAsync();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task EachOperationHappensWholeOrNotAtAll()
    {
        // create: the container exists and starts, or its name is free.
        await KilledDuringAsync(TimeSpan.FromMilliseconds(150), "create", "--name", "made", "busybox", "sleep", "600");
        if (await ExistsAsync("container", "made"))
        {
            await _vch.DockerAsync("start", "made");
            Assert.Equal("ok\n", (await _vch.DockerAsync("exec", "made", "echo", "ok")).StandardOutput);
            await _vch.DockerAsync("rm", "-f", "made");
        }

        await _vch.DockerAsync("create", "--name", "made", "busybox", "true");

        // start: the container runs (and takes an exec) or is stopped and starts; no VM is left over.
        var startedId = (await _vch.DockerAsync("create", "--name", "starting", "busybox", "sleep", "600")).StandardOutput.Trim();
        await KilledDuringAsync(TimeSpan.FromMilliseconds(400), "start", "starting");
        var state = await StateAsync("starting");
        Assert.Contains(state, new[] { "running", "created", "exited" });
        if (state != "running")
        {
            await _vch.DockerAsync("start", "starting");
        }

        Assert.Equal("ok\n", (await _vch.DockerAsync("exec", "starting", "echo", "ok")).StandardOutput);
        await _vch.DockerAsync("rm", "-f", "starting");
        await NoContainerVmForAsync(startedId);

        // rm: the container is gone, or still there and removable; its VM goes either way.
        var removedId = (await _vch.DockerAsync("run", "-d", "--name", "going", "busybox", "sleep", "600")).StandardOutput.Trim();
        await KilledDuringAsync(TimeSpan.FromMilliseconds(200), "rm", "-f", "going");
        if (await ExistsAsync("container", "going"))
        {
            await _vch.DockerAsync("rm", "-f", "going");
        }

        await NoContainerVmForAsync(removedId);
        await _vch.DockerAsync("create", "--name", "going", "busybox", "true");

        // volume create: the volume exists and holds data, or can be made.
        await KilledDuringAsync(TimeSpan.FromMilliseconds(100), "volume", "create", "kept");
        await _vch.DockerAsync("volume", "create", "kept");
        Assert.Equal("x\n", (await _vch.DockerAsync("run", "--rm", "-v", "kept:/d", "busybox", "sh", "-c", "echo x > /d/f && cat /d/f")).StandardOutput);

        // commit: the image runs with the container's change, or is absent and a commit makes it.
        await _vch.DockerAsync("run", "-d", "--name", "source", "busybox", "sh", "-c", "echo hi > /f; exec sleep 600");
        await Eventually.WaitForAsync(async () => (await _vch.TryDockerAsync("exec", "source", "cat", "/f")).StandardOutput == "hi\n");
        await KilledDuringAsync(TimeSpan.FromMilliseconds(300), "commit", "source", "committed");
        if (!await ExistsAsync("image", "committed"))
        {
            await _vch.DockerAsync("commit", "source", "committed");
        }

        Assert.Equal("hi\n", (await _vch.DockerAsync("run", "--rm", "committed", "cat", "/f")).StandardOutput);
        await _vch.DockerAsync("rm", "-f", "source", "made", "going");
    }

    [Fact]
    public async Task ACopyIntoAContainerAndAPushCutByTheKillCanBeRedoneWhole()
    {
        using var host = new TempDirectory("midop-payload");
        using var layer = new TempDirectory("midop-layer");
        var content = new byte[64 * 1024 * 1024];
        new Random(20261204).NextBytes(content); // incompressible: the transfer takes a while
        var file = layer.Combine("big");
        await File.WriteAllBytesAsync(file, content);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        var rootfs = host.Combine("rootfs.tar");
        await using (var tar = File.Create(rootfs))
        {
            await System.Formats.Tar.TarFile.CreateFromDirectoryAsync(layer.Path, tar, includeBaseDirectory: false);
        }

        // cp into a running container: the container runs on, and the copy made again arrives whole.
        await _vch.DockerAsync("run", "-d", "--name", "target", "busybox", "sleep", "600");
        await KilledDuringAsync(TimeSpan.FromMilliseconds(800), "cp", file, "target:/tmp/big");
        var stateAfterCp = await StateAsync("target");
        await _vch.DockerAsync("cp", file, "target:/tmp/big");
        var copied = (await _vch.DockerAsync("exec", "target", "sha256sum", "/tmp/big")).StandardOutput;

        // push: the local image is intact, the push made again completes, and what the registry
        // holds then pulls back as the same bytes.
        var reference = $"{_vch.RegistryHost}/killed/push:1";
        await _vch.DockerAsync("import", rootfs, reference);
        await KilledDuringAsync(TimeSpan.FromMilliseconds(800), "push", reference);
        await _vch.DockerAsync("push", reference);
        await _vch.DockerAsync("rmi", reference);
        await _vch.DockerAsync("pull", reference);
        await _vch.DockerAsync("create", "--name", "reader", reference, "none");
        await _vch.DockerAsync("cp", "reader:/big", host.Combine("back"));
        await _vch.DockerAsync("rm", "-f", "target", "reader");

        Assert.Equal("running", stateAfterCp);
        Assert.StartsWith(expected, copied, StringComparison.Ordinal);
        Assert.Equal(expected, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(host.Combine("back")))));
    }

    /// <summary>Runs the docker command, SIGKILLs the endpoint <paramref name="after"/> into it, and starts it again.</summary>
    private async Task KilledDuringAsync(TimeSpan after, params string[] command)
    {
        var operation = _vch.TryDockerAsync(command);
        await Task.Delay(after);
        await _vch.CrashAndRestartAsync();

        // It succeeded before the kill or failed with it: the checks after are what matter.
        await operation;
    }

    private async Task<bool> ExistsAsync(string kind, string name) =>
        (await _vch.TryDockerAsync(kind, "inspect", name)).ExitCode == 0;

    private async Task<string> StateAsync(string name) =>
        (await _vch.DockerAsync("inspect", "-f", "{{.State.Status}}", name)).StandardOutput.Trim();

    private static async Task NoContainerVmForAsync(string containerId) =>
        await Eventually.WaitForAsync(() => Task.FromResult(ContainerVmProcesses.Holding(containerId) == 0));
}
