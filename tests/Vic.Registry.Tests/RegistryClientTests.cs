using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.TestSupport;

namespace Vic.Registry.Tests;

/// <summary>The registry client against a real docker-registry (distribution 2.8) seeded with skopeo.</summary>
public sealed class RegistryClientTests : IAsyncLifetime
{
    private LocalRegistry _registry = null!;

    public async Task InitializeAsync()
    {
        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
    }

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    [Fact]
    public async Task PullsBusyboxByTagAndVerifiesEveryBlob()
    {
        using var client = NewClient();
        var session = client.Open(ImageReference.Parse($"{_registry.Host}/library/busybox"), null, RegistryAccess.Pull);

        var pulled = await session.GetManifestAsync(CancellationToken.None);
        var config = await session.GetBlobBytesAsync(pulled.Manifest.Config, CancellationToken.None);
        var layer = pulled.Manifest.Layers.Single();
        await using var blob = await session.OpenBlobAsync(layer, CancellationToken.None);
        var bytes = await ReadAllAsync(blob);

        Assert.Equal(MediaTypes.OciManifest, pulled.Manifest.MediaType);
        Assert.Equal(pulled.ManifestDigest, pulled.RepositoryDigest);
        Assert.Equal(pulled.Manifest.Config.Digest, Digests.Sha256(config));
        Assert.Equal(layer.Size, bytes.Length);
        Assert.Equal(layer.Digest, Digests.Sha256(bytes));
        Assert.Equal(new Uri($"http://{_registry.Host}/"), session.Endpoint);
    }

    [Fact]
    public async Task PullsByDigestAndRefusesAManifestThatIsNotTheDigest()
    {
        using var client = NewClient();
        var byTag = await client.Open(ImageReference.Parse($"{_registry.Host}/busybox"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        var byDigest = await client.Open(ImageReference.Parse($"{_registry.Host}/busybox@{byTag.ManifestDigest}"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        Assert.Equal(byTag.Raw, byDigest.Raw);
        var unknown = "sha256:" + new string('0', 64);
        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Open(ImageReference.Parse($"{_registry.Host}/busybox@{unknown}"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None));
        Assert.Equal(RegistryErrorKind.NotFound, error.Kind);
    }

    [Fact]
    public async Task ChoosesLinuxAmd64FromAnOciIndex()
    {
        using var home = new TempDirectory("oci");
        var layout = new OciLayoutBuilder(home.Path);
        var amd64 = layout.AddImage([layout.AddLayer(t => t.File("arch", "amd64"))], null, "amd64");
        var arm64 = layout.AddImage([layout.AddLayer(t => t.File("arch", "arm64"))], null, "arm64");
        var index = layout.AddIndex([(arm64, "arm64"), (amd64, "amd64")], "multi");
        await _registry.PushOciLayoutAsync(home.Path, "multi", "multi", all: true);
        using var client = NewClient();

        var pulled = await client.Open(ImageReference.Parse($"{_registry.Host}/multi:multi"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        Assert.Equal(amd64.Digest, pulled.ManifestDigest);
        Assert.Equal(index.Digest, pulled.RepositoryDigest);
    }

    [Fact]
    public async Task UnknownRepositoriesAreNotFound()
    {
        using var client = NewClient();

        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Open(ImageReference.Parse($"{_registry.Host}/nosuch:latest"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None));

        Assert.Equal(RegistryErrorKind.NotFound, error.Kind);
        Assert.Equal($"manifest for {_registry.Host}/nosuch:latest not found: manifest unknown: manifest unknown", error.Message);
    }

    [Fact]
    public async Task ADroppedBlobDownloadResumesWithRangeAndStillVerifies()
    {
        using var home = new TempDirectory("oci");
        var layout = new OciLayoutBuilder(home.Path);
        var big = RandomNumberGenerator.GetBytes(3 << 20);
        layout.AddImage([layout.AddLayer(t => t.File("big.bin", big))], "big");
        await _registry.PushOciLayoutAsync(home.Path, "big", "big");
        await using var proxy = new FaultyProxy(_registry.Port) { CutAfterBytes = 1 << 20, ConnectionsToCut = 2 };
        using var client = NewClient();
        var session = client.Open(ImageReference.Parse($"{proxy.Host}/big:big"), null, RegistryAccess.Pull);
        var pulled = await session.GetManifestAsync(CancellationToken.None);
        var layer = pulled.Manifest.Layers.Single();

        await using var blob = await session.OpenBlobAsync(layer, CancellationToken.None);
        var bytes = await ReadAllAsync(blob);

        Assert.Equal(2, proxy.Cuts);
        Assert.Equal(layer.Digest, Digests.Sha256(bytes));
    }

    [Fact]
    public async Task ARegistryThatKeepsDroppingFailsCleanlyAndALaterPullSucceeds()
    {
        await using var proxy = new FaultyProxy(_registry.Port) { CutAfterBytes = 1000, ConnectionsToCut = 100 };
        using var client = new RegistryClient(new RegistryOptions { BlobRetries = 2, RetryDelay = TimeSpan.FromMilliseconds(10) }, NullLogger<RegistryClient>.Instance);
        var session = client.Open(ImageReference.Parse($"{proxy.Host}/busybox"), null, RegistryAccess.Pull);
        proxy.CutAfterBytes = long.MaxValue;
        var pulled = await session.GetManifestAsync(CancellationToken.None);
        proxy.CutAfterBytes = 1000;

        var error = await Assert.ThrowsAsync<RegistryException>(async () =>
        {
            await using var blob = await session.OpenBlobAsync(pulled.Manifest.Layers[0], CancellationToken.None);
            await ReadAllAsync(blob);
        });

        Assert.Equal(RegistryErrorKind.Unavailable, error.Kind);
        Assert.Contains("failed after 2 retries", error.Message, StringComparison.Ordinal);
        proxy.CutAfterBytes = long.MaxValue;
        await using var again = await session.OpenBlobAsync(pulled.Manifest.Layers[0], CancellationToken.None);
        Assert.Equal(pulled.Manifest.Layers[0].Digest, Digests.Sha256(await ReadAllAsync(again)));
    }

    [Fact]
    public async Task ADockerHubNameIsServedByTheMirror()
    {
        using var client = new RegistryClient(new RegistryOptions { Mirrors = [new Uri($"http://{_registry.Host}/")] }, NullLogger<RegistryClient>.Instance);
        var session = client.Open(ImageReference.Parse("busybox"), null, RegistryAccess.Pull);

        var pulled = await session.GetManifestAsync(CancellationToken.None);

        Assert.Equal(new Uri($"http://{_registry.Host}/"), session.Endpoint);
        Assert.Single(pulled.Manifest.Layers);
    }

    [Fact]
    public async Task PushesBlobsAndAManifestThatPullBackIdentically()
    {
        using var client = NewClient();
        var source = client.Open(ImageReference.Parse($"{_registry.Host}/busybox"), null, RegistryAccess.Pull);
        var pulled = await source.GetManifestAsync(CancellationToken.None);
        var target = client.Open(ImageReference.Parse($"{_registry.Host}/copied/busybox:v1"), null, RegistryAccess.PullPush);

        foreach (var blob in pulled.Manifest.Layers.Append(pulled.Manifest.Config))
        {
            Assert.False(await target.BlobExistsAsync(blob.Digest, CancellationToken.None));
            var content = await source.GetBlobBytesAsync(blob, CancellationToken.None);
            await target.UploadBlobAsync(blob.Digest, blob.Size, () => new MemoryStream(content), CancellationToken.None);
            Assert.True(await target.BlobExistsAsync(blob.Digest, CancellationToken.None));
        }

        var digest = await target.PutManifestAsync("v1", pulled.Manifest.MediaType, pulled.Raw, CancellationToken.None);
        var back = await client.Open(ImageReference.Parse($"{_registry.Host}/copied/busybox:v1"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        Assert.Equal(pulled.ManifestDigest, digest);
        Assert.Equal(pulled.Raw, back.Raw);
    }

    private static RegistryClient NewClient() => new(new RegistryOptions { RetryDelay = TimeSpan.FromMilliseconds(10) }, NullLogger<RegistryClient>.Instance);

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}

/// <summary>Basic auth against a real registry with an htpasswd file.</summary>
public sealed class RegistryBasicAuthTests : IAsyncLifetime
{
    private LocalRegistry _registry = null!;

    public async Task InitializeAsync() => _registry = await LocalRegistry.StartAsync("alice", "s3cret");

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    [Fact]
    public async Task LoginSucceedsWithTheRightPasswordOnly()
    {
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance);

        await client.CheckLoginAsync(_registry.Host, new RegistryCredentials("alice", "s3cret"), CancellationToken.None);
        var wrong = await Assert.ThrowsAsync<RegistryException>(() => client.CheckLoginAsync(_registry.Host, new RegistryCredentials("alice", "nope"), CancellationToken.None));
        var anonymous = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Open(ImageReference.Parse($"{_registry.Host}/busybox"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None));

        Assert.Equal(RegistryErrorKind.Unauthorized, wrong.Kind);
        Assert.Equal(RegistryErrorKind.Unauthorized, anonymous.Kind);
        Assert.Equal($"pull access denied for {_registry.Host}/busybox, repository does not exist or may require 'docker login'", anonymous.Message);
    }
}
