using System.Diagnostics;

namespace Vic.TestSupport;

/// <summary>
/// A real <c>docker-registry</c> (Debian's distribution 2.8) on a free loopback port with its own
/// config file and storage, optionally behind htpasswd basic auth.
/// </summary>
public sealed class LocalRegistry : IAsyncDisposable
{
    private readonly TempDirectory _home;
    private readonly string _config;
    private readonly string _address;
    private readonly bool _tls;
    private Process? _process;

    private LocalRegistry(TempDirectory home, int port, string config, string address, bool tls)
    {
        _home = home;
        Port = port;
        _config = config;
        _address = address;
        _tls = tls;
    }

    public int Port { get; }

    /// <summary>ADDRESS:PORT (127.0.0.1 unless told), the registry part of an image reference.</summary>
    public string Host => $"{_address}:{Port}";

    public string StorageDirectory => _home.Combine("storage");

    public static Task<LocalRegistry> StartAsync(string? user = null, string? password = null) => StartAsync(user, password, "127.0.0.1", null);

    /// <summary>A registry on <paramref name="address"/>; with <paramref name="tls"/> it serves HTTPS with that certificate and key (PEM files).</summary>
    public static async Task<LocalRegistry> StartAsync(string? user, string? password, string address, (string Certificate, string Key)? tls)
    {
        var home = new TempDirectory("registry");
        var port = EndpointProcess.FreePort();
        var auth = "";
        if (user is not null)
        {
            var htpasswd = await Command.RunAsync("htpasswd", ["-Bbn", user, password ?? ""]).ConfigureAwait(false);
            if (htpasswd.ExitCode != 0)
            {
                throw new InvalidOperationException(htpasswd.ToString());
            }

            await File.WriteAllTextAsync(home.Combine("htpasswd"), htpasswd.StandardOutput).ConfigureAwait(false);
            auth = $"auth:\n  htpasswd:\n    realm: test-registry\n    path: {home.Combine("htpasswd")}\n";
        }

        var config = home.Combine("config.yml");
        await File.WriteAllTextAsync(
            config,
            $"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {home.Combine("storage")}\n  delete:\n    enabled: true\n" +
            $"http:\n  addr: {address}:{port}\n" +
            (tls is { } pair ? $"  tls:\n    certificate: {pair.Certificate}\n    key: {pair.Key}\n" : "") +
            auth).ConfigureAwait(false);
        var registry = new LocalRegistry(home, port, config, address, tls is not null);
        await registry.RestartAsync().ConfigureAwait(false);
        return registry;
    }

    /// <summary>Starts (again) the registry process on the same port and storage.</summary>
    public async Task RestartAsync()
    {
        var start = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(_config);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // Only whether it answers matters here, not whose certificate it shows.
#pragma warning disable CA5359
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
#pragma warning restore CA5359
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"{(_tls ? "https" : "http")}://{Host}/v2/")).ConfigureAwait(false);
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100).ConfigureAwait(false);
            }
        }

        throw new TimeoutException("docker-registry did not start");
    }

    /// <summary>SIGKILL, as when the registry host dies mid-pull.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Pushes busybox (from busybox-static) with skopeo, as <c>make up</c> seeds its registry.</summary>
    public async Task SeedBusyboxAsync()
    {
        var result = await Command.RunAsync(Repository.Combine("scripts", "seed-busybox.sh"), [Host], timeout: TimeSpan.FromMinutes(2)).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    /// <summary>debian:bookworm and nginx:latest, made from Debian's packages (scripts/seed-debian.sh; the rootfs is cached per machine).</summary>
    public async Task SeedDebianAsync()
    {
        var result = await Command.RunAsync(Repository.Combine("scripts", "seed-debian.sh"), [Host], timeout: TimeSpan.FromMinutes(10)).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    /// <summary>Copies an OCI layout directory into the registry with skopeo.</summary>
    public async Task PushOciLayoutAsync(string layout, string tag, string repository, bool all = false)
    {
        string[] arguments = ["copy", "--quiet", "--dest-tls-verify=false", .. all ? new[] { "--all" } : [], $"oci:{layout}:{tag}", $"docker://{Host}/{repository}:{tag}"];
        var result = await Command.RunAsync("skopeo", arguments, timeout: TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(result.ToString());
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _process?.Dispose();
        _home.Dispose();
    }
}
