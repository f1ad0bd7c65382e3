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

    private static string ManifestJson(string configDigest) =>
        "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.DockerManifest + "\",\"config\":{\"mediaType\":\"" + MediaTypes.DockerConfig +
        "\",\"digest\":\"" + configDigest + "\",\"size\":" + Config.Length + "},\"layers\":[]}";

    private static HttpResponseMessage Json(string body, string mediaType = "application/json")
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body) };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return response;
    }

    private sealed class FakePeer : HttpMessageHandler
    {
        public Dictionary<string, Func<HttpRequestMessage, HttpResponseMessage>> Routes { get; } = [];

        public List<string> TokenRequests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Routes.TryGetValue(request.RequestUri!.AbsolutePath, out var route) ? route(request) : new HttpResponseMessage(HttpStatusCode.NotFound));
    }
}
