using System.IO.Compression;
using System.Text.Json;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// vicadmin as an admin meets it: the real endpoint with real ContainerVMs, a container started with
/// the docker CLI, and Debian's Chromium driven by Playwright (tests/browser/vicadmin.mjs) through the
/// login, the ContainerVM list, the container's output, the live endpoint log and the log bundle.
/// The screenshots are read back with OCR (tesseract): what the admin saw had the container's name.
/// </summary>
public sealed class VicadminBrowserTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vicadmin-browser");
    private LocalRegistry? _registry;
    private EndpointProcess? _endpoint;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <remarks>IAsyncLifetime's, not IAsyncDisposable's: xunit 2 never calls the latter on a test class, which left this test's endpoint and its ContainerVMs running after the suite.</remarks>
    public async Task DisposeAsync()
    {
        if (_endpoint is not null)
        {
            await Command.DockerAsync($"tcp://127.0.0.1:{_endpoint.Port}", "rm", "-f", "admin-web");
            await _endpoint.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }
    }

    /// <remarks>xunit calls it after <see cref="DisposeAsync"/>: the folder goes once nothing runs in it.</remarks>
    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task AnAdminLogsInInChromiumSeesTheRunningContainerReadsItsOutputAndDownloadsTheBundle()
    {
        var script = Repository.Combine("tests", "browser", "vicadmin.mjs");
        Assert.True(Directory.Exists(Repository.Combine("tests", "browser", "node_modules", "playwright-core")), "playwright-core is not installed: scripts/install-deps.sh installs it (npm ci in tests/browser)");

        _registry = await LocalRegistry.StartAsync();
        await _registry.SeedBusyboxAsync();
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        var passwords = _home.Combine("vicadmin-password");
        await File.WriteAllTextAsync(passwords, $"admin:{password}\n");
        var port = EndpointProcess.FreePort();
        var adminPort = EndpointProcess.FreePort();
        _endpoint = await EndpointProcess.StartAsync(port,
        [
            "-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--name", "browser-vch", "--registry-mirror", $"http://{_registry.Host}",
            "--backend", "qemu", "--containervm-kernel", kernel, "--containervm-initramfs", initramfs,
            "--vicadmin", $"127.0.0.1:{adminPort}", "--vicadmin-password-file", passwords,
        ]);
        var host = $"tcp://127.0.0.1:{port}";
        var run = await Command.DockerAsync(host, "run", "-d", "--name", "admin-web", "busybox", "sh", "-c", "echo hello-from-admin-web; sleep 600");
        Assert.True(run.ExitCode == 0, run.ToString());

        var shots = Directory.CreateDirectory(_home.Combine("shots")).FullName;
        var browser = await Command.RunAsync("node", [script], new Dictionary<string, string>
        {
            ["VICADMIN_URL"] = $"https://127.0.0.1:{adminPort}/",
            ["VICADMIN_USER"] = "admin",
            ["VICADMIN_PASSWORD"] = password,
            ["CONTAINER_NAME"] = "admin-web",
            ["EXPECT_OUTPUT"] = "hello-from-admin-web",
            ["OUT_DIR"] = shots,
        }, TimeSpan.FromMinutes(4));
        Assert.True(browser.ExitCode == 0, $"{browser}\nendpoint:\n{_endpoint.Output}");

        var seen = JsonDocument.Parse(browser.StandardOutput.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal("Wrong user name or password.", seen.GetProperty("refusal").GetString());
        var row = seen.GetProperty("row").GetString()!;
        Assert.Contains("admin-web", row, StringComparison.Ordinal);
        Assert.Contains("running", row, StringComparison.Ordinal);
        Assert.Contains("busybox", row, StringComparison.Ordinal);
        Assert.Contains("instant clone", row, StringComparison.Ordinal);
        Assert.Contains("hello-from-admin-web", seen.GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.True(seen.GetProperty("endpointLogLines").GetInt32() > 5);
        Assert.Equal(401, seen.GetProperty("afterLogout").GetInt32());

        // What the admin saw, read off the screenshots themselves.
        Assert.Contains("Log in", await ReadTextAsync(Path.Combine(shots, "login.png")), StringComparison.Ordinal);
        Assert.Contains("admin-web", await ReadTextAsync(Path.Combine(shots, "containers.png")), StringComparison.Ordinal);
        Assert.Contains("Output of admin-web", await ReadTextAsync(Path.Combine(shots, "output.png")), StringComparison.Ordinal);

        Assert.StartsWith("browser-vch-logs-", seen.GetProperty("bundleName").GetString(), StringComparison.Ordinal);
        using var zip = ZipFile.OpenRead(Path.Combine(shots, "bundle.zip"));
        var id = (await Command.DockerAsync(host, "inspect", "-f", "{{.Id}}", "admin-web")).StandardOutput.Trim();
        var folder = $"containers/admin-web-{id[..12]}";
        var texts = zip.Entries.ToDictionary(e => e.FullName, e => new StreamReader(e.Open()).ReadToEnd());
        Assert.Contains("hello-from-admin-web", texts[$"{folder}/output.log"], StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(texts[$"{folder}/console.log"]));
        Assert.Contains("admin logged in", texts["endpoint.log"], StringComparison.Ordinal);
        Assert.Contains("admin-web", texts["containers.json"], StringComparison.Ordinal);
        Assert.All(texts.Values, text => Assert.DoesNotContain(password, text, StringComparison.Ordinal));
    }

    private static async Task<string> ReadTextAsync(string png)
    {
        var ocr = await Command.RunAsync("tesseract", [png, "-"], timeout: TimeSpan.FromMinutes(1));
        Assert.True(ocr.ExitCode == 0, ocr.ToString());
        Assert.False(string.IsNullOrWhiteSpace(ocr.StandardOutput), $"{png} reads as blank");
        return ocr.StandardOutput;
    }
}
