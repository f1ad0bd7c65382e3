using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vic.Registry.Tests;

/// <summary>
/// A programmable registry peer for what a real one will not do on demand: bearer token auth with a
/// token server, lying about a blob's content, sending garbage for a manifest.
/// </summary>
public sealed class FakeRegistryTests
{
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\"}");

    [Fact]
    public async Task BearerChallengeFetchesATokenForTheRepositoryScopeAndUsesIt()
    {
        var peer = new FakePeer();
        peer.Routes["/token"] = request =>
        {
            peer.TokenRequests.Add(request.RequestUri!.Query + " " + request.Headers.Authorization);
            return Json("{\"token\":\"t0k3n\"}");
        };
        peer.Routes["/v2/team/app/manifests/1.0"] = request =>
        {
            if (request.Headers.Authorization?.ToString() != "Bearer t0k3n")
            {
                var denied = new HttpResponseMessage(HttpStatusCode.Unauthorized);
                denied.Headers.WwwAuthenticate.ParseAdd("Bearer realm=\"https://auth.example/token\",service=\"example\",scope=\"repository:team/app:pull\"");
                return denied;
            }

            return Json(ManifestJson(Digests.Sha256(Config)), MediaTypes.DockerManifest);
        };
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);

        var pulled = await client.Open(ImageReference.Parse("registry.example/team/app:1.0"), new RegistryCredentials("bob", "pw"), RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        Assert.Equal(MediaTypes.DockerManifest, pulled.Manifest.MediaType);
        var tokenRequest = Assert.Single(peer.TokenRequests);
        Assert.Equal("?service=example&scope=repository%3Ateam%2Fapp%3Apull Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:pw")), tokenRequest);
    }

    [Fact]
    public async Task ABlobWhoseBytesDoNotMatchItsDigestIsRefused()
    {
        var peer = new FakePeer();
        var claimed = Digests.Sha256(Config);
        peer.Routes[$"/v2/library/app/blobs/{claimed}"] = _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes("{\"architecture\":\"arm64\",\"os\":\"linux\"}")) };
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);
        var session = client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull);

        var error = await Assert.ThrowsAsync<RegistryException>(() => session.GetBlobBytesAsync(new Descriptor { Digest = claimed, Size = Config.Length }, CancellationToken.None));

        Assert.Equal(RegistryErrorKind.InvalidContent, error.Kind);
        Assert.StartsWith($"blob digest mismatch: expected {claimed}, got sha256:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageForAManifestIsAClearError()
    {
        var peer = new FakePeer();
        peer.Routes["/v2/library/app/manifests/latest"] = _ => Json("{not json", MediaTypes.DockerManifest);
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);

        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None));

        Assert.Equal(RegistryErrorKind.InvalidContent, error.Kind);
        Assert.StartsWith("the registry sent an invalid manifest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnIndexWithoutLinuxAmd64SaysSo()
    {
        var peer = new FakePeer();
        peer.Routes["/v2/library/app/manifests/latest"] = _ => Json(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + new string('a', 64) + "\",\"size\":1,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
            MediaTypes.OciIndex);
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);

        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None));

        Assert.Equal("no matching manifest for linux/amd64 in the manifest list entries of registry.example/library/app:latest", error.Message);
    }

    [Fact]
    public async Task AResumedBlobDownloadAsksForTheRestWithRange()
    {
        var content = System.Security.Cryptography.RandomNumberGenerator.GetBytes(100_000);
        var digest = Digests.Sha256(content);
        var peer = new FakePeer();
        var ranges = new List<string?>();
        peer.Routes[$"/v2/library/app/blobs/{digest}"] = request =>
        {
            ranges.Add(request.Headers.Range?.ToString());
            if (request.Headers.Range is not { } range)
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new BreakingStream(content, 40_000)) };
            }

            var from = (int)range.Ranges.Single().From!.Value;
            return new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent(content, from, content.Length - from) };
        };
        using var client = new RegistryClient(new RegistryOptions { RetryDelay = TimeSpan.FromMilliseconds(10) }, NullLogger<RegistryClient>.Instance, (_, _) => peer);
        var session = client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull);

        var bytes = await session.GetBlobBytesAsync(new Descriptor { Digest = digest, Size = content.Length }, CancellationToken.None);

        Assert.Equal([null, "bytes=40000-"], ranges);
        Assert.Equal(digest, Digests.Sha256(bytes));
    }

    [Fact]
    public async Task ADockerManifestListGivesItsLinuxAmd64Manifest()
    {
        var peer = new FakePeer();
        var arm64Config = Encoding.UTF8.GetBytes("{\"architecture\":\"arm64\",\"os\":\"linux\"}");
        var arm64 = Encoding.UTF8.GetBytes(ManifestJson(Digests.Sha256(arm64Config)).Replace($"\"size\":{Config.Length}", $"\"size\":{arm64Config.Length}", StringComparison.Ordinal));
        var amd64 = Encoding.UTF8.GetBytes(ManifestJson(Digests.Sha256(Config)));
        var windows = Encoding.UTF8.GetBytes(ManifestJson(Digests.Sha256(Config)).Replace("\"layers\":[]", "\"layers\":[],\"annotations\":{}", StringComparison.Ordinal));
        var list = Encoding.UTF8.GetBytes(
            "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DockerManifestList + "\",\"manifests\":[" +
            Entry(arm64, "arm64", "linux") + "," + Entry(windows, "amd64", "windows") + "," + Entry(amd64, "amd64", "linux") + "]}");
        var accepted = new List<string>();
        var fetched = new List<string>();
        peer.Routes["/v2/library/app/manifests/latest"] = request =>
        {
            accepted.AddRange(request.Headers.Accept.Select(a => a.MediaType!));
            return Raw(list, MediaTypes.DockerManifestList);
        };
        foreach (var manifest in new[] { arm64, windows, amd64 })
        {
            var digest = Digests.Sha256(manifest);
            peer.Routes[$"/v2/library/app/manifests/{digest}"] = _ =>
            {
                fetched.Add(digest);
                return Raw(manifest, MediaTypes.DockerManifest);
            };
        }

        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);

        var pulled = await client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull).GetManifestAsync(CancellationToken.None);

        Assert.Contains(MediaTypes.DockerManifestList, accepted);
        Assert.Equal([Digests.Sha256(amd64)], fetched);
        Assert.Equal(Digests.Sha256(amd64), pulled.ManifestDigest);
        Assert.Equal(Digests.Sha256(list), pulled.RepositoryDigest);
        Assert.Equal(amd64, pulled.Raw);
        Assert.Equal(Digests.Sha256(Config), pulled.Manifest.Config.Digest);

        static string Entry(byte[] manifest, string architecture, string os) =>
            "{\"mediaType\":\"" + MediaTypes.DockerManifest + "\",\"digest\":\"" + Digests.Sha256(manifest) + "\",\"size\":" + manifest.Length +
            ",\"platform\":{\"architecture\":\"" + architecture + "\",\"os\":\"" + os + "\"}}";
    }

    [Fact]
    public async Task AnAnonymousBearerTokenIsFetchedWithoutCredentialsAndUsedForManifestAndBlobs()
    {
        var peer = new FakePeer();
        peer.Routes["/token"] = request =>
        {
            peer.TokenRequests.Add(request.RequestUri!.Host + request.RequestUri.PathAndQuery + " " + request.Headers.Authorization);
            return Json("{\"token\":\"anonymous-t0k3n\",\"expires_in\":300}");
        };
        peer.Routes["/v2/library/app/manifests/latest"] = Guarded(() => Json(ManifestJson(Digests.Sha256(Config)), MediaTypes.DockerManifest));
        peer.Routes[$"/v2/library/app/blobs/{Digests.Sha256(Config)}"] = Guarded(() => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Config) });
        using var client = new RegistryClient(new RegistryOptions(), NullLogger<RegistryClient>.Instance, (_, _) => peer);
        var session = client.Open(ImageReference.Parse("registry.example/library/app"), null, RegistryAccess.Pull);

        var pulled = await session.GetManifestAsync(CancellationToken.None);
        var config = await session.GetBlobBytesAsync(pulled.Manifest.Config, CancellationToken.None);

        Assert.Equal(Config, config);
        var tokenRequest = Assert.Single(peer.TokenRequests);
        Assert.Equal("auth.example/token?service=registry.example&scope=repository%3Alibrary%2Fapp%3Apull ", tokenRequest);

        static Func<HttpRequestMessage, HttpResponseMessage> Guarded(Func<HttpResponseMessage> answer) => request =>
        {
            if (request.Headers.Authorization?.ToString() == "Bearer anonymous-t0k3n")
            {
                return answer();
            }

            var denied = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            denied.Headers.WwwAuthenticate.ParseAdd("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:library/app:pull\"");
            return denied;
        };
    }

    private static string ManifestJson(string configDigest) =>
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DockerManifest + "\",\"config\":{\"mediaType\":\"" + MediaTypes.DockerConfig +
        "\",\"digest\":\"" + configDigest + "\",\"size\":" + Config.Length + "},\"layers\":[]}";

    private static HttpResponseMessage Json(string body, string mediaType = "application/json")
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body) };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return response;
    }

    private static HttpResponseMessage Raw(byte[] body, string mediaType)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return response;
    }

    /// <summary>A response body that gives its first <c>limit</c> bytes and then breaks, as a dropped connection does.</summary>
    private sealed class BreakingStream(byte[] content, int limit) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => content.Length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= limit)
            {
                throw new IOException("connection reset by peer");
            }

            var n = Math.Min(count, limit - _position);
            Array.Copy(content, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class FakePeer : HttpMessageHandler
    {
        public Dictionary<string, Func<HttpRequestMessage, HttpResponseMessage>> Routes { get; } = [];

        public List<string> TokenRequests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Routes.TryGetValue(request.RequestUri!.AbsolutePath, out var route) ? route(request) : new HttpResponseMessage(HttpStatusCode.NotFound));
    }
}
