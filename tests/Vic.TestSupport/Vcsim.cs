using System.Diagnostics;

namespace Vic.TestSupport;

/// <summary>
/// The govmomi vCenter simulator (<c>tools/vcsim</c>, built from Debian's govmomi by
/// <c>scripts/build-vcsim.sh</c>) on a free loopback port, with its test hooks on: a real vim25
/// SOAP peer for the client and the vSphere backend.
/// </summary>
public sealed class Vcsim : IAsyncDisposable
{
    public const string User = "vic";
    public const string Password = "vic-password";

    private readonly Process _process;
    private readonly TempDirectory _home;

    private readonly System.Text.StringBuilder _log;

    private Vcsim(Process process, TempDirectory home, IReadOnlyDictionary<string, string> ready, System.Text.StringBuilder log)
    {
        _log = log;
        _process = process;
        _home = home;
        var url = new Uri(ready["VCSIM_URL"]);
        Sdk = new UriBuilder(url) { UserName = "", Password = "" }.Uri;
        Thumbprint = ready["THUMBPRINT"];
        Datastore = ready["DATASTORE"];
        DatastoreDirectory = ready["DATASTORE_DIR"];
    }

    /// <summary>https://127.0.0.1:PORT/sdk</summary>
    public Uri Sdk { get; }

    public string Thumbprint { get; }

    /// <summary>What vcsim wrote to stderr (its log, a panic).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The model's first datastore (LocalDS_0) and the host folder behind it.</summary>
    public string Datastore { get; }

    public string DatastoreDirectory { get; }

    /// <summary>Builds vcsim if needed and starts it with the default VPX model (DC0, cluster DC0_C0, LocalDS_0).</summary>
    public static async Task<Vcsim> StartAsync(params string[] arguments)
    {
        var build = await Command.RunAsync(Repository.Combine("scripts", "build-vcsim.sh"), [], timeout: TimeSpan.FromMinutes(10)).ConfigureAwait(false);
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/build-vcsim.sh failed: {build}");
        }

        var home = new TempDirectory("vcsim");
        var start = new ProcessStartInfo(build.StandardOutput.Trim().Split('\n')[^1]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["-listen", "127.0.0.1:0", "-username", User, "-password", Password, "-control", "-datastore-dir", home.Combine("datastores"), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start vcsim");
        var log = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false)
            ?? throw new InvalidOperationException("vcsim ended before it was ready");
        var ready = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f.Length > 1 ? f[1] : "");
        return new Vcsim(process, home, ready, log);
    }

    /// <summary>Ends a session on the server side, as an admin or an expiry would (the -control hook).</summary>
    public Task TerminateSessionAsync(string key) => ControlAsync($"terminate-session?key={Uri.EscapeDataString(key)}");

    /// <summary>Makes <paramref name="method"/> on one object fault with MethodDisabled until enabled again.</summary>
    public Task DisableMethodAsync(string type, string moid, string method) => ControlAsync($"disable-method?type={type}&moid={moid}&method={method}");

    public Task EnableMethodAsync(string type, string moid, string method) => ControlAsync($"enable-method?type={type}&moid={moid}&method={method}");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
        _home.Dispose();
    }

    private async Task ControlAsync(string pathAndQuery)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler);
        using var response = await http.PostAsync(new Uri(Sdk, "/vcsim/" + pathAndQuery), null).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }
}
