using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>--tls and --tlsverify as dockerd and VIC do them, checked with the docker CLI's own TLS client.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TempDirectory _home = new("vch-tls");
    private readonly TestCertificates _certs;

    public TlsTests() => _certs = TestCertificates.Create(_home.Combine("certs"));

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TlsVerifyAcceptsOurClientAndRefusesOthers()
    {
        var port = EndpointProcess.FreePort();
        await using var endpoint = await StartAsync(port, "--tlsverify", "--tlscacert", _certs.CaCert);
        var host = $"tcp://127.0.0.1:{port}";

        var trusted = await Command.DockerAsync(host, "--tlsverify", "--tlscacert", _certs.CaCert, "--tlscert", _certs.ClientCert, "--tlskey", _certs.ClientKey, "version", "--format", "{{json .Server}}");
        var noCertificate = await Command.DockerAsync(host, "--tlsverify", "--tlscacert", _certs.CaCert, "version");
        var rogue = await Command.DockerAsync(host, "--tlsverify", "--tlscacert", _certs.CaCert, "--tlscert", _certs.RogueClientCert, "--tlskey", _certs.RogueClientKey, "version");
        var plain = await Command.DockerAsync(host, "version");

        Assert.True(trusted.ExitCode == 0, trusted.ToString());
        using (var server = JsonDocument.Parse(trusted.StandardOutput))
        {
            Assert.Equal("1.47", server.RootElement.GetProperty("ApiVersion").GetString());
        }

        Assert.True(noCertificate.ExitCode != 0, noCertificate.ToString());
        Assert.DoesNotContain("1.47", noCertificate.StandardOutput, StringComparison.Ordinal);
        Assert.True(rogue.ExitCode != 0, rogue.ToString());
        Assert.DoesNotContain("1.47", rogue.StandardOutput, StringComparison.Ordinal);
        Assert.True(plain.ExitCode != 0, plain.ToString());
    }

    [Fact]
    public async Task TlsWithoutVerifyServesAnyClientThatTrustsUs()
    {
        var port = EndpointProcess.FreePort();
        await using var endpoint = await StartAsync(port, "--tls");

        var result = await Command.DockerAsync($"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", _certs.CaCert, "info", "--format", "{{.Name}}");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("tls-vch\n", result.StandardOutput);
    }

    [Fact]
    public async Task DockerPyConnectsWithClientCertificates()
    {
        var port = EndpointProcess.FreePort();
        await using var endpoint = await StartAsync(port, "--tlsverify", "--tlscacert", _certs.CaCert);
        var script = string.Join(
            "\n",
            "import docker",
            $"tls = docker.tls.TLSConfig(client_cert=('{_certs.ClientCert}', '{_certs.ClientKey}'), ca_cert='{_certs.CaCert}', verify=True)",
            $"print(docker.DockerClient(base_url='https://127.0.0.1:{port}', tls=tls).version()['ApiVersion'])");

        var result = await Command.RunAsync("/usr/bin/python3", ["-c", script]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("1.47\n", result.StandardOutput);
    }

    private Task<EndpointProcess> StartAsync(int port, params string[] tlsArguments) =>
        EndpointProcess.StartAsync(
            port,
            [
                "-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine($"data-{port}"), "--name", "tls-vch",
                "--tlscert", _certs.ServerCert, "--tlskey", _certs.ServerKey, .. tlsArguments,
            ],
            () => HandshakeAnswersAsync(port));

    private async Task<bool> HandshakeAnswersAsync(int port)
    {
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, _, _, _) => true,
        };
        handler.ClientCertificates.Add(X509Certificate2.CreateFromPemFile(_certs.ClientCert, _certs.ClientKey));
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await client.GetAsync(new Uri($"https://127.0.0.1:{port}/_ping"));
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }
}
