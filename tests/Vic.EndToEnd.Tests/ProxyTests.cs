using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// dockerd's <c>--https-proxy</c>, <c>--http-proxy</c> and <c>--no-proxy</c> against a real proxy
/// (tinyproxy, asking for basic authentication): a pull from a TLS registry on this machine's
/// non-loopback address goes through the proxy as a CONNECT with the proxy URL's credentials, one
/// from a plain registry as a proxied GET; <c>--no-proxy</c> sends it direct; <c>docker info</c>
/// shows the proxies with their passwords masked, as dockerd shows them.
/// </summary>
public sealed class ProxyTests : IAsyncLifetime, IDisposable
{
    private const string User = "puller";
    private const string Password = "s3cret";
    private readonly TempDirectory _home = new("vch-proxy");
    private TestCertificates _certificates = null!;
    private LocalRegistry _tlsRegistry = null!;
    private LocalRegistry _plainRegistry = null!;
    private TinyProxy _proxy = null!;
    private readonly List<EndpointProcess> _endpoints = [];

    public async Task InitializeAsync()
    {
        var address = HostAddresses.NonLoopback();
        _certificates = TestCertificates.Create(_home.Combine("certs"), address);
        _tlsRegistry = await LocalRegistry.StartAsync(null, null, address.ToString(), (_certificates.ServerCert, _certificates.ServerKey));
        _plainRegistry = await LocalRegistry.StartAsync(null, null, address.ToString(), null);
        var layout = new OciLayoutBuilder(_home.Combine("layout"));
        layout.AddImage([layout.AddLayer(t => t.File("hello", "through a proxy"))], "v1");
        await _tlsRegistry.PushOciLayoutAsync(layout.Directory, "v1", "app");
        await _plainRegistry.PushOciLayoutAsync(layout.Directory, "v1", "app");
        _proxy = await TinyProxy.StartAsync(User, Password);
    }

    public async Task DisposeAsync()
    {
        foreach (var endpoint in _endpoints)
        {
            await endpoint.DisposeAsync();
        }

        await _proxy.DisposeAsync();
        await _tlsRegistry.DisposeAsync();
        await _plainRegistry.DisposeAsync();
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task PullsGoThroughTheProxyWithItsCredentialsAndInfoShowsItMasked()
    {
        var proxy = $"http://{User}:{Password}@127.0.0.1:{_proxy.Port}";
        var host = await StartEndpointAsync("data", "--https-proxy", proxy, "--http-proxy", proxy, "--no-proxy", "example.com", "--insecure-registry", _plainRegistry.Host);

        var overTls = await Command.DockerAsync(host, "pull", $"{_tlsRegistry.Host}/app:v1");
        var plain = await Command.DockerAsync(host, "pull", $"{_plainRegistry.Host}/app:v1");
        var info = await Command.DockerAsync(host, "info", "--format", "{{.HTTPProxy}}|{{.HTTPSProxy}}|{{.NoProxy}}");
        var shown = await Command.DockerAsync(host, "info");

        Assert.True(overTls.ExitCode == 0, overTls + string.Join('\n', _proxy.Requests));
        Assert.True(plain.ExitCode == 0, plain + string.Join('\n', _proxy.Requests));
        Assert.Contains($"CONNECT {_tlsRegistry.Host} HTTP/1.1", _proxy.Requests);
        Assert.Contains($"GET http://{_plainRegistry.Host}/v2/app/manifests/v1 HTTP/1.1", _proxy.Requests);
        var masked = $"http://xxxxx:xxxxx@127.0.0.1:{_proxy.Port}";
        Assert.Equal($"{masked}|{masked}|example.com\n", info.StandardOutput);
        Assert.Contains($"HTTP Proxy: {masked}", shown.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, shown.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHostInNoProxyIsReachedDirectlyAndAProxyWithoutTheCredentialsIsRefused()
    {
        var address = HostAddresses.NonLoopback().ToString();
        var bypassed = await StartEndpointAsync("bypassed", "--https-proxy", $"http://127.0.0.1:{_proxy.Port}", "--no-proxy", $"{address}/32");
        var direct = await Command.DockerAsync(bypassed, "pull", $"{_tlsRegistry.Host}/app:v1");
        Assert.Empty(_proxy.Requests);

        var refused = await StartEndpointAsync("refused", "--https-proxy", $"http://127.0.0.1:{_proxy.Port}");
        var denied = await Command.DockerAsync(refused, "pull", $"{_tlsRegistry.Host}/app:v1");

        Assert.True(direct.ExitCode == 0, direct.ToString());
        Assert.NotEqual(0, denied.ExitCode);
        // The proxy's 407 comes back as the pull's error; no image is left.
        Assert.Contains($"Get \"https://{_tlsRegistry.Host}/v2/\": The proxy tunnel request to proxy 'http://127.0.0.1:{_proxy.Port}/' failed with status code '407'\n", denied.StandardError, StringComparison.Ordinal);
        Assert.Equal("", (await Command.DockerAsync(refused, "images", "-q")).StandardOutput);
    }

    private async Task<string> StartEndpointAsync(string data, params string[] more)
    {
        var port = EndpointProcess.FreePort();
        var trusted = Directory.CreateDirectory(_home.Combine(data, "certs.d", _tlsRegistry.Host)).FullName;
        File.Copy(_certificates.CaCert, Path.Combine(trusted, "ca.crt"), overwrite: true);
        _endpoints.Add(await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine(data), .. more]));
        return $"tcp://127.0.0.1:{port}";
    }
}
