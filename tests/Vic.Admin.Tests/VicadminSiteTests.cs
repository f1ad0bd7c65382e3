using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Vic.Endpoint.Configuration;
using Vic.PortLayer.Containers;
using Vic.TestSupport;

namespace Vic.Admin.Tests;

/// <summary>vicadmin served by the real endpoint (in process, no backend) and spoken to over TLS.</summary>
public sealed class VicadminSiteTests : IDisposable
{
    private const string Password = "vicadmin-test-pw";
    private readonly TempDirectory _files = new("vicadmin-site");

    public void Dispose() => _files.Dispose();

    private async Task<(InProcessVch Vch, Uri Admin)> StartAsync(Func<EndpointOptions, EndpointOptions>? more = null)
    {
        var passwords = _files.Combine("passwords");
        await File.WriteAllTextAsync(passwords, $"admin:{Password}\n");
        var port = EndpointProcess.FreePort();
        var vch = await InProcessVch.StartAsync(o => (more ?? (x => x))(o with { Vicadmin = $"127.0.0.1:{port}", VicadminPasswordFile = passwords }));
        return (vch, new Uri($"https://127.0.0.1:{port}/"));
    }

    private static HttpClient Client(Uri admin, X509Certificate2? certificate = null)
    {
        var handler = new HttpClientHandler
        {
            // vicadmin's certificate is made for it on first start: self-signed.
            ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
            AllowAutoRedirect = false,
            UseCookies = true,
        };
        if (certificate is not null)
        {
            handler.ClientCertificateOptions = ClientCertificateOption.Manual;
            handler.ClientCertificates.Add(certificate);
        }

        return new HttpClient(handler) { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(30) };
    }

    private static Task<HttpResponseMessage> LogInAsync(HttpClient client, string user, string password) =>
        client.PostAsync("/login", new FormUrlEncodedContent([new("user", user), new("password", password)]));

    [Fact]
    public async Task NothingButTheLoginFormIsServedBeforeALoginAndAWrongPasswordIsRefused()
    {
        var (vch, admin) = await StartAsync();
        await using var _ = vch;
        using var client = Client(admin);

        var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/login", page.Headers.Location?.OriginalString);
        foreach (var api in new[] { "/api/vch", "/api/containers", "/api/usage", "/api/log", "/logs.zip" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(api)).StatusCode);
        }

        var form = await client.GetAsync("/login");
        Assert.Equal(HttpStatusCode.OK, form.StatusCode);
        Assert.Contains("an account in", await form.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", form.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        var refused = await LogInAsync(client, "admin", "guess");
        Assert.Equal("/login?failed=1", refused.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/vch")).StatusCode);
    }

    [Fact]
    public async Task AnAdminWhoLogsInSeesTheVchItsContainersAndUsageAndLogsOutAgain()
    {
        var (vch, admin) = await StartAsync();
        await using var _ = vch;
        var created = vch.Engine.Containers.Create(new NewContainer("web", "busybox"));
        using var client = Client(admin);

        var login = await LogInAsync(client, "admin", Password);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookie = login.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        var about = await client.GetFromJsonAsync<JsonElement>("/api/vch");
        Assert.Equal("test-vch", about.GetProperty("name").GetString());
        Assert.Equal("admin", about.GetProperty("user").GetString());
        Assert.Contains(about.GetProperty("settings").EnumerateArray(), s => s.GetProperty("key").GetString() == "vicadmin");

        var containers = await client.GetFromJsonAsync<JsonElement>("/api/containers");
        var row = Assert.Single(containers.EnumerateArray());
        Assert.Equal(created.Id, row.GetProperty("id").GetString());
        Assert.Equal("web", row.GetProperty("name").GetString());
        Assert.Equal("created", row.GetProperty("state").GetString());
        Assert.Equal(256L << 20, row.GetProperty("memoryBytes").GetInt64());

        var usage = await client.GetFromJsonAsync<JsonElement>("/api/usage");
        Assert.Equal(2, usage.GetProperty("limit").GetProperty("cpus").GetInt32());
        Assert.Equal(0, usage.GetProperty("samples").EnumerateArray().Last().GetProperty("runningVms").GetInt32());

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/containers/nosuch/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/containers/{created.Id}/logs")).StatusCode);

        var logout = await client.PostAsync("/logout", null);
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/vch")).StatusCode);
    }

    [Fact]
    public async Task TheLiveLogStreamsTheEndpointsOwnLinesIncludingTheLogin()
    {
        var (vch, admin) = await StartAsync();
        await using var _ = vch;
        using var client = Client(admin);
        await LogInAsync(client, "admin", Password);

        using var stream = await client.GetAsync("/api/log", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? line;
        while ((line = await reader.ReadLineAsync(deadline.Token)) is not null && !line.Contains("admin logged in", StringComparison.Ordinal))
        {
        }

        Assert.NotNull(line);
        Assert.StartsWith("data: {", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheBundleHoldsTheEndpointLogSettingsAndEachContainersFilesAndNoPassword()
    {
        var (vch, admin) = await StartAsync();
        await using var _ = vch;
        var created = vch.Engine.Containers.Create(new NewContainer("db", "busybox"));
        using var client = Client(admin);
        await LogInAsync(client, "admin", Password);

        var response = await client.GetAsync("/logs.zip");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("test-vch-logs-", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'), StringComparison.Ordinal);
        using var zip = new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync()));
        var names = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("endpoint.log", names);
        Assert.Contains("vch.json", names);
        Assert.Contains("containers.json", names);
        Assert.Contains($"containers/db-{created.Id[..12]}/output.log", names);
        Assert.Contains($"containers/db-{created.Id[..12]}/console.log", names);

        var texts = zip.Entries.ToDictionary(e => e.FullName, e => new StreamReader(e.Open()).ReadToEnd());
        Assert.Contains("admin logged in", texts["endpoint.log"], StringComparison.Ordinal);
        Assert.Contains("\"test-vch\"", texts["vch.json"], StringComparison.Ordinal);
        Assert.All(texts.Values, text => Assert.DoesNotContain(Password, text, StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithTlsverifyTheVchsClientCertificateLogsItsHolderInAndAStrangersDoesNot()
    {
        var certificates = TestCertificates.Create(_files.Combine("certs"));
        var (vch, admin) = await StartAsync(o => o with { TlsVerify = true, TlsCaCert = certificates.CaCert, TlsCert = certificates.ServerCert, TlsKey = certificates.ServerKey });
        await using var _ = vch;

        using (var client = Client(admin, X509Certificate2.CreateFromPemFile(certificates.ClientCert, certificates.ClientKey)))
        {
            var about = await client.GetFromJsonAsync<JsonElement>("/api/vch");
            Assert.Equal("client", about.GetProperty("user").GetString());
        }

        using (var stranger = Client(admin, X509Certificate2.CreateFromPemFile(certificates.RogueClientCert, certificates.RogueClientKey)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("/api/vch")).StatusCode);
        }
    }

    [Fact]
    public async Task OnlyTheVchsClientCertificateMayStopTheEndpointNotALogin()
    {
        var certificates = TestCertificates.Create(_files.Combine("certs"));
        var (vch, admin) = await StartAsync(o => o with { TlsVerify = true, TlsCaCert = certificates.CaCert, TlsCert = certificates.ServerCert, TlsKey = certificates.ServerKey });
        await using var _ = vch;

        using (var browser = Client(admin))
        {
            Assert.Equal("/", (await LogInAsync(browser, "admin", Password)).Headers.Location?.OriginalString);
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/api/vch")).StatusCode);
            var refused = await browser.PostAsync("/api/stop", null);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("client certificate", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var stranger = Client(admin, X509Certificate2.CreateFromPemFile(certificates.RogueClientCert, certificates.RogueClientKey)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.PostAsync("/api/stop", null)).StatusCode);
        }

        Assert.False(vch.Stopping.IsCancellationRequested);
        using (var client = Client(admin, X509Certificate2.CreateFromPemFile(certificates.ClientCert, certificates.ClientKey)))
        {
            Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/api/stop", null)).StatusCode);
        }

        await Task.Delay(Timeout.Infinite, vch.Stopping).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(vch.Stopping.IsCancellationRequested);
    }

    [Fact]
    public async Task UnderAnAuthorizationPolicyOnlyACertificateThatMayManageTheVchOpensVicadmin()
    {
        var certificates = TestCertificates.CreateWithUsers(_files.Combine("certs"), "ops", "auditor");
        var policy = _files.Combine("policy.yaml");
        await File.WriteAllTextAsync(policy, "users:\n  ops: { may: [all] }\n  auditor: { may: [read] }\n");
        var (vch, admin) = await StartAsync(o => o with { TlsVerify = true, TlsCaCert = certificates.CaCert, TlsCert = certificates.ServerCert, TlsKey = certificates.ServerKey, AuthzPolicy = policy });
        await using var _ = vch;

        X509Certificate2 CertificateOf(string user) => X509Certificate2.CreateFromPemFile(Path.Combine(certificates.UserCertPath(user), "cert.pem"), Path.Combine(certificates.UserCertPath(user), "key.pem"));
        using var ops = Client(admin, CertificateOf("ops"));
        using var auditor = Client(admin, CertificateOf("auditor"));

        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/api/vch")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auditor.GetAsync("/api/containers")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auditor.GetAsync("/logs.zip")).StatusCode);
    }
}
