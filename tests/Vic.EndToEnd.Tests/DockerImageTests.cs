using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>The image commands of the stock docker CLI against the endpoint process and a real registry.</summary>
public sealed class DockerImageTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-images");
    private LocalRegistry _registry = null!;
    private EndpointProcess _endpoint = null!;

    private string Host => $"tcp://127.0.0.1:{_endpoint.Port}";

    public async Task InitializeAsync()
    {
        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
        var port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port,
        [
            "-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--registry-mirror", $"http://{_registry.Host}",
        ]);
    }

    public async Task DisposeAsync()
    {
        await _endpoint.DisposeAsync();
        await _registry.DisposeAsync();
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task PullListInspectTagHistoryAndRemoveRoundTrip()
    {
        var pull = await DockerAsync("pull", "busybox");
        Assert.Contains("latest: Pulling from library/busybox", pull.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Pull complete", pull.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Status: Downloaded newer image for busybox:latest", pull.StandardOutput, StringComparison.Ordinal);

        var again = await DockerAsync("pull", "busybox");
        Assert.Contains("Status: Image is up to date for busybox:latest", again.StandardOutput, StringComparison.Ordinal);

        var id = (await DockerAsync("images", "-q", "--no-trunc")).StandardOutput.Trim();
        Assert.StartsWith("sha256:", id, StringComparison.Ordinal);
        var digest = (await DockerAsync("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")).StandardOutput.Trim();
        Assert.Matches("^busybox latest sha256:[0-9a-f]{64}$", digest);

        using (var inspect = JsonDocument.Parse((await DockerAsync("image", "inspect", "busybox")).StandardOutput))
        {
            var image = inspect.RootElement[0];
            Assert.Equal(id, image.GetProperty("Id").GetString());
            Assert.Equal("sh", image.GetProperty("Config").GetProperty("Cmd")[0].GetString());
            Assert.Single(image.GetProperty("RootFS").GetProperty("Layers").EnumerateArray());
        }

        await DockerAsync("tag", "busybox", "mybox:v1");
        var tags = (await DockerAsync("images", "--format", "{{.Repository}}:{{.Tag}}")).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["busybox:latest", "mybox:v1"], tags.Order());

        var history = (await DockerAsync("history", "--no-trunc", "--format", "{{.CreatedBy}}", "mybox:v1")).StandardOutput;
        Assert.Contains("seed-busybox.sh", history, StringComparison.Ordinal);

        var byId = await Command.DockerAsync(Host, "rmi", id[7..19]);
        Assert.NotEqual(0, byId.ExitCode);
        Assert.Contains($"conflict: unable to delete {id[7..19]} (must be forced) - image is referenced in multiple repositories", byId.StandardError, StringComparison.Ordinal);

        var untag = await DockerAsync("rmi", "mybox:v1");
        Assert.Equal("Untagged: mybox:v1\n", untag.StandardOutput);
        var removed = await DockerAsync("rmi", "busybox");
        Assert.Contains("Untagged: busybox:latest", removed.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"Deleted: {id}", removed.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", (await DockerAsync("images", "-q")).StandardOutput);
    }

    [Fact]
    public async Task PullByDigestAndFilterTheList()
    {
        await DockerAsync("pull", "busybox");
        var digest = (await DockerAsync("images", "--digests", "--format", "{{.Digest}}")).StandardOutput.Trim();
        await DockerAsync("rmi", "busybox");

        var pulled = await DockerAsync("pull", $"busybox@{digest}");

        Assert.Contains($"Digest: {digest}", pulled.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("busybox <none>\n", (await DockerAsync("images", "--format", "{{.Repository}} {{.Tag}}")).StandardOutput);
        await DockerAsync("pull", "busybox");
        Assert.Equal("busybox\n", (await DockerAsync("images", "--filter", "reference=busy*", "--format", "{{.Repository}}")).StandardOutput);
        Assert.Equal("", (await DockerAsync("images", "--filter", "dangling=true", "-q")).StandardOutput);
        var bad = await Command.DockerAsync(Host, "images", "--filter", "colour=red");
        Assert.Contains("invalid filter 'colour'", bad.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingImageFailsWithDockersMessage()
    {
        var result = await Command.DockerAsync(Host, "pull", $"{_registry.Host}/nosuch:1");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"Error response from daemon: manifest for {_registry.Host}/nosuch:1 not found: manifest unknown", result.StandardError, StringComparison.Ordinal);
        var inspect = await Command.DockerAsync(Host, "image", "inspect", "nosuch");
        Assert.Contains("No such image: nosuch", inspect.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHostileLayerIsRefusedAndLeavesNothingBehind()
    {
        var layout = new OciLayoutBuilder(_home.Combine("hostile"));
        var layer = layout.AddLayer(t =>
        {
            t.File("innocent", "x");
            t.File("../../etc/cron.d/evil", "* * * * * root sh");
        });
        layout.AddImage([layer], "evil");
        await _registry.PushOciLayoutAsync(layout.Directory, "evil", "evil");

        var result = await Command.DockerAsync(Host, "pull", $"{_registry.Host}/evil:evil");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("failed to register layer: tar entry \"../../etc/cron.d/evil\"", result.StandardError + result.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", (await DockerAsync("images", "-q")).StandardOutput);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_home.Combine("data", "imagestore", "layers")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_home.Combine("data", "imagestore", "layers.partial")));
    }

    [Fact]
    public async Task ARegistryKilledMidPullFailsCleanlyAndALaterPullSucceeds()
    {
        var layout = new OciLayoutBuilder(_home.Combine("big"));
        var layer = layout.AddLayer(t => t.File("random.bin", System.Security.Cryptography.RandomNumberGenerator.GetBytes(8 << 20)));
        layout.AddImage([layer], "big");
        await _registry.PushOciLayoutAsync(layout.Directory, "big", "big");
        await using var proxy = new FaultyProxy(_registry.Port) { CutAfterBytes = 2 << 20, ConnectionsToCut = 1, OnCut = _registry.KillAsync };

        var failed = await Command.DockerAsync(Host, "pull", $"{proxy.Host}/big:big");

        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("failed after 5 retries", failed.StandardError + failed.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", (await DockerAsync("images", "-q")).StandardOutput);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_home.Combine("data", "imagestore", "layers")));
        await _registry.RestartAsync();
        var later = await DockerAsync("pull", $"{proxy.Host}/big:big");
        Assert.Contains("Pull complete", later.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADroppedConnectionResumesAndThePullSucceeds()
    {
        var layout = new OciLayoutBuilder(_home.Combine("resume"));
        var layer = layout.AddLayer(t => t.File("random.bin", System.Security.Cryptography.RandomNumberGenerator.GetBytes(4 << 20)));
        layout.AddImage([layer], "resume");
        await _registry.PushOciLayoutAsync(layout.Directory, "resume", "resume");
        await using var proxy = new FaultyProxy(_registry.Port) { CutAfterBytes = 1 << 20, ConnectionsToCut = 2 };

        var pulled = await DockerAsync("pull", $"{proxy.Host}/resume:resume");

        Assert.Contains("Pull complete", pulled.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(2, proxy.Cuts);
    }

    private async Task<CommandResult> DockerAsync(params string[] arguments)
    {
        var result = await Command.DockerAsync(Host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nendpoint:\n{_endpoint.Output}");
        return result;
    }
}
