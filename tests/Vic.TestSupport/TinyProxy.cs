namespace Vic.TestSupport;

/// <summary>
/// Debian's tinyproxy, a real HTTP proxy (plain requests and CONNECT), on a loopback port of its
/// own, asking for basic authentication when given a user, and logging each request it is sent.
/// </summary>
public sealed class TinyProxy : IAsyncDisposable
{
    private readonly LocalDaemon _daemon;
    private readonly TempDirectory _home;

    private TinyProxy(LocalDaemon daemon, TempDirectory home, int port)
    {
        _daemon = daemon;
        _home = home;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The request lines it was sent, "GET http://host/path HTTP/1.1" or "CONNECT host:port HTTP/1.1".</summary>
    public IReadOnlyList<string> Requests =>
        File.Exists(_home.Combine("tinyproxy.log"))
            ? [.. File.ReadLines(_home.Combine("tinyproxy.log")).Select(l => l.Split("): ", 2)).Where(p => p.Length == 2 && p[0].Contains("Request (file descriptor", StringComparison.Ordinal)).Select(p => p[1])]
            : [];

    public static async Task<TinyProxy> StartAsync(string? user = null, string? password = null)
    {
        var home = new TempDirectory("tinyproxy");
        var port = EndpointProcess.FreePort();
        var config = home.Combine("tinyproxy.conf");
        await File.WriteAllTextAsync(config, $"""
            Port {port}
            Listen 127.0.0.1
            Timeout 60
            LogFile "{home.Combine("tinyproxy.log")}"
            LogLevel Connect
            MaxClients 50
            DisableViaHeader Yes
            {(user is null ? "" : $"BasicAuth {user} {password}")}

            """).ConfigureAwait(false);
        var log = home.Combine("tinyproxy.log");
        var daemon = await LocalDaemon.StartAsync("tinyproxy", ["-d", "-c", config], port, () => File.Exists(log) ? File.ReadAllText(log) : "").ConfigureAwait(false);
        return new TinyProxy(daemon, home, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync().ConfigureAwait(false);
        _home.Dispose();
    }
}
