using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// A registry serving HTTPS with a certificate from its own CA, on this machine's non-loopback
/// address (loopback registries are insecure by default, as dockerd's are, so they would prove
/// nothing): the VCH trusts it through <c>&lt;data-dir&gt;/certs.d/HOST:PORT/ca.crt</c>, or skips the
/// check for an <c>--insecure-registry</c>, and refuses it otherwise.
/// </summary>
public sealed class RegistryCertificateTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-regtls");
    private TestCertificates _certificates = null!;
    private LocalRegistry _registry = null!;
    private EndpointProcess? _endpoint;

    public async Task InitializeAsync()
    {
        var address = HostAddresses.NonLoopback();
        _certificates = TestCertificates.Create(_home.Combine("certs"), address);
        _registry = await LocalRegistry.StartAsync(null, null, address.ToString(), (_certificates.ServerCert, _certificates.ServerKey));
        var layout = new OciLayoutBuilder(_home.Combine("layout"));
        layout.AddImage([layout.AddLayer(t => t.File("hello", "from a TLS registry"))], "v1");
        await _registry.PushOciLayoutAsync(layout.Directory, "v1", "app");
    }

    public async Task DisposeAsync()
    {
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }

        await _registry.DisposeAsync();
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task ThePullFailsWithoutTheRegistrysCaAndSucceedsWithItInCertsD()
    {
        var host = await StartEndpointAsync();
        var image = $"{_registry.Host}/app:v1";

        var refused = await Command.DockerAsync(host, "pull", image);

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains($"Get \"https://{_registry.Host}/v2/\"", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("The SSL connection could not be established: The remote certificate is invalid because of errors in the certificate chain", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("", (await Command.DockerAsync(host, "images", "-q")).StandardOutput);

        var trusted = Directory.CreateDirectory(_home.Combine("data", "certs.d", _registry.Host)).FullName;
        File.Copy(_certificates.CaCert, Path.Combine(trusted, "ca.crt"));
        var pulled = await Command.DockerAsync(host, "pull", image);

        Assert.True(pulled.ExitCode == 0, pulled + _endpoint!.Output);
        Assert.Contains($"Status: Downloaded newer image for {image}", pulled.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARegistryCaGivenAtStartIsTrustedForEveryRegistryAsVicsRegistryCaWas()
    {
        var host = await StartEndpointAsync("--registry-ca", _certificates.CaCert);

        var pulled = await Command.DockerAsync(host, "pull", $"{_registry.Host}/app:v1");

        Assert.True(pulled.ExitCode == 0, pulled + _endpoint!.Output);
        Assert.Contains("Pull complete", pulled.StandardOutput, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_home.Combine("data", "certs.d", _registry.Host)));
    }

    [Fact]
    public async Task AnInsecureRegistryIsPulledWithoutItsCa()
    {
        var host = await StartEndpointAsync("--insecure-registry", _registry.Host);

        var pulled = await Command.DockerAsync(host, "pull", $"{_registry.Host}/app:v1");

        Assert.True(pulled.ExitCode == 0, pulled + _endpoint!.Output);
        Assert.Contains("Pull complete", pulled.StandardOutput, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_home.Combine("data", "certs.d", _registry.Host)));
    }

    private async Task<string> StartEndpointAsync(params string[] more)
    {
        var port = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), .. more]);
        return $"tcp://127.0.0.1:{port}";
    }
}
