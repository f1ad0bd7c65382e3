using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>The image commands of the stock docker CLI against the endpoint process and a real registry.</summary>
public sealed class DockerImageTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-images");
    private LocalRegistry _registry = null!;
    private EndpointProcess _endpoint = null!;
    private string[] _arguments = [];

    private string Host => $"tcp://127.0.0.1:{_endpoint.Port}";

    public async Task InitializeAsync()
    {
        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
        var port = EndpointProcess.FreePort();
        _arguments = ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--registry-mirror", $"http://{_registry.Host}"];
        _endpoint = await EndpointProcess.StartAsync(port, _arguments);
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
    public async Task AnEndpointKilledMidLayerLeavesAPartialLayerThatTheNextStartSweepsAndALaterPullRedoes()
    {
        var layout = new OciLayoutBuilder(_home.Combine("crash"));
        var layer = layout.AddLayer(t => t.File("random.bin", System.Security.Cryptography.RandomNumberGenerator.GetBytes(8 << 20)));
        layout.AddImage([layer], "crash");
        await _registry.PushOciLayoutAsync(layout.Directory, "crash", "crash");
        var layers = _home.Combine("data", "imagestore", "layers");
        var partial = _home.Combine("data", "imagestore", "layers.partial");
        bool Converting() => Directory.EnumerateFiles(partial, LayerDisk, SearchOption.AllDirectories).Any();
        await using var proxy = new FaultyProxy(_registry.Port)
        {
            CutAfterBytes = 2 << 20,
            ConnectionsToCut = 1,
            OnCut = async () =>
            {
                // The power goes while the layer's disk is being written.
                await Eventually.WaitForAsync(() => Task.FromResult(Converting()), TimeSpan.FromSeconds(20));
                await _endpoint.KillAsync();
            },
        };

        var crashed = await Command.DockerAsync(Host, "pull", $"{proxy.Host}/crash:crash");

        Assert.NotEqual(0, crashed.ExitCode);
        await _endpoint.WaitForExitAsync(TimeSpan.FromSeconds(10));
        Assert.True(Converting(), "the crash did not come mid-conversion");
        Assert.Empty(Directory.EnumerateFileSystemEntries(layers));
        await _endpoint.DisposeAsync();
        _endpoint = await EndpointProcess.StartAsync(_endpoint.Port, _arguments);
        Assert.Empty(Directory.EnumerateFileSystemEntries(partial));

        var pulled = await DockerAsync("pull", $"{proxy.Host}/crash:crash");

        Assert.Contains("Pull complete", pulled.StandardOutput, StringComparison.Ordinal);
        using var inspect = JsonDocument.Parse((await DockerAsync("image", "inspect", $"{proxy.Host}/crash:crash")).StandardOutput);
        var diffId = inspect.RootElement[0].GetProperty("RootFS").GetProperty("Layers")[0].GetString()!;
        Assert.Equal(layer.DiffId, diffId);
        Assert.True(inspect.RootElement[0].GetProperty("Size").GetInt64() > 8 << 20);
        var stored = Path.Combine(layers, diffId["sha256:".Length..]);
        Assert.Equal([stored], Directory.EnumerateDirectories(layers));
        using (var info = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(stored, "layer.json"))))
        {
            Assert.Equal(layer.Digest, info.RootElement.GetProperty("BlobDigest").GetString());
            Assert.Equal(layer.Size, new FileInfo(Path.Combine(stored, "layer.tar.gz")).Length);
        }

        Assert.True(new FileInfo(Path.Combine(stored, LayerDisk)).Length > 0);
        Assert.Empty(Directory.EnumerateFileSystemEntries(partial));
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

    [Fact]
    public async Task SaveLoadAndImportRoundTrip()
    {
        await DockerAsync("pull", "busybox");
        var id = (await DockerAsync("images", "-q", "--no-trunc", "busybox")).StandardOutput.Trim();
        var archive = _home.Combine("busybox.tar");
        await DockerAsync("save", "-o", archive, "busybox");
        var listing = await Command.RunAsync("tar", ["tf", archive]);
        Assert.Contains("manifest.json", listing.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("index.json", listing.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"blobs/sha256/{id[7..]}", listing.StandardOutput, StringComparison.Ordinal);
        await DockerAsync("rmi", "busybox");

        var loaded = await DockerAsync("load", "-i", archive);

        Assert.Contains("Loaded image: busybox:latest", loaded.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(id + "\n", (await DockerAsync("images", "-q", "--no-trunc", "busybox")).StandardOutput);

        var rootfs = _home.Combine("rootfs.tar");
        var made = await Command.RunAsync("tar", ["-C", Path.GetDirectoryName(EndpointProcess.EndpointDll)!, "-cf", rootfs, "vch-endpoint.dll"]);
        Assert.True(made.ExitCode == 0, made.ToString());
        var imported = await DockerAsync("import", "--change", "CMD [\"/app\"]", "--change", "ENV MODE=test", "--message", "from a test", rootfs, "imported:1");
        Assert.StartsWith("sha256:", imported.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("[/app] [MODE=test]\n", (await DockerAsync("image", "inspect", "--format", "{{.Config.Cmd}} {{.Config.Env}}", "imported:1")).StandardOutput);
        Assert.Contains("from a test", (await DockerAsync("history", "--format", "{{.Comment}}", "imported:1")).StandardOutput, StringComparison.Ordinal);

        var df = await DockerAsync("system", "df", "--format", "{{.Type}} {{.TotalCount}}");
        Assert.Contains("Images 2", df.StandardOutput, StringComparison.Ordinal);

        await DockerAsync("tag", "imported:1", "imported:2");
        await DockerAsync("rmi", "imported:1");
        var dangling = await DockerAsync("image", "prune", "-f");
        Assert.Contains("Total reclaimed space: 0B", dangling.StandardOutput, StringComparison.Ordinal);
        var all = await DockerAsync("image", "prune", "-a", "-f");
        Assert.Contains("untagged: busybox:latest", all.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"deleted: {id}", all.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", (await DockerAsync("images", "-q")).StandardOutput);
    }

    [Fact]
    public async Task PushToARegistryAndPullItBack()
    {
        await DockerAsync("pull", "busybox");
        var target = $"{_registry.Host}/pushed/busybox:v1";
        await DockerAsync("tag", "busybox", target);

        var pushed = await DockerAsync("push", target);

        Assert.Contains($"The push refers to repository [{_registry.Host}/pushed/busybox]", pushed.StandardOutput, StringComparison.Ordinal);
        Assert.Matches("v1: digest: sha256:[0-9a-f]{64} size: [0-9]+", pushed.StandardOutput);
        var again = await DockerAsync("push", target);
        Assert.Contains("Layer already exists", again.StandardOutput, StringComparison.Ordinal);
        var inspected = await Command.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{target}"]);
        Assert.True(inspected.ExitCode == 0, inspected.ToString());
        await DockerAsync("rmi", target, "busybox");
        var back = await DockerAsync("pull", target);
        Assert.Contains("Pull complete", back.StandardOutput, StringComparison.Ordinal);
        var missing = await Command.DockerAsync(Host, "push", $"{_registry.Host}/never/made:1");
        Assert.Contains($"An image does not exist locally with the tag: {_registry.Host}/never/made", missing.StandardError, StringComparison.Ordinal);
    }

    private const string LayerDisk = "layer.vmdk";

    private async Task<CommandResult> DockerAsync(params string[] arguments)
    {
        var result = await Command.DockerAsync(Host, arguments);
        Assert.True(result.ExitCode == 0, $"docker {string.Join(' ', arguments)}: {result}\nendpoint:\n{_endpoint.Output}");
        return result;
    }
}

/// <summary><c>docker login</c>, <c>logout</c> and an authenticated pull against a registry with htpasswd auth.</summary>
public sealed class DockerLoginTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-login");
    private LocalRegistry _registry = null!;
    private EndpointProcess _endpoint = null!;

    public async Task InitializeAsync()
    {
        _registry = await LocalRegistry.StartAsync("alice", "s3cret");
        var port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data")]);
    }

    public async Task DisposeAsync()
    {
        await _endpoint.DisposeAsync();
        await _registry.DisposeAsync();
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task LoginChecksTheCredentialsAndPullsUseThem()
    {
        var environment = new Dictionary<string, string> { ["DOCKER_CONFIG"] = _home.Combine("docker-config") };
        var host = $"tcp://127.0.0.1:{_endpoint.Port}";
        var denied = await Command.RunAsync("docker", ["-H", host, "pull", $"{_registry.Host}/busybox"], environment);
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("pull access denied", denied.StandardError, StringComparison.Ordinal);

        var wrong = await Command.RunAsync("docker", ["-H", host, "login", "-u", "alice", "--password-stdin", _registry.Host], environment, standardInput: "nope");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("401 Unauthorized", wrong.StandardError, StringComparison.Ordinal);

        var login = await Command.RunAsync("docker", ["-H", host, "login", "-u", "alice", "--password-stdin", _registry.Host], environment, standardInput: "s3cret");
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("Login Succeeded", login.StandardOutput, StringComparison.Ordinal);

        // Seed through the authenticated registry with skopeo, then pull with the CLI's stored credentials.
        var seeded = await Command.RunAsync(Repository.Combine("scripts", "seed-busybox.sh"), [_registry.Host], new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = Path.Combine(_home.Combine("docker-config"), "config.json") }, TimeSpan.FromMinutes(2));
        Assert.True(seeded.ExitCode == 0, seeded.ToString());
        var pulled = await Command.RunAsync("docker", ["-H", host, "pull", $"{_registry.Host}/busybox"], environment);
        Assert.True(pulled.ExitCode == 0, pulled.ToString() + _endpoint.Output);

        var logout = await Command.RunAsync("docker", ["-H", host, "logout", _registry.Host], environment);
        Assert.True(logout.ExitCode == 0, logout.ToString());
        await Command.RunAsync("docker", ["-H", host, "rmi", $"{_registry.Host}/busybox"], environment);
        var afterLogout = await Command.RunAsync("docker", ["-H", host, "pull", $"{_registry.Host}/busybox"], environment);
        Assert.NotEqual(0, afterLogout.ExitCode);
    }
}
