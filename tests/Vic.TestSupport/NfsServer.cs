namespace Vic.TestSupport;

/// <summary>
/// A real NFSv4 server (Debian's NFS-Ganesha, userspace, so no kernel nfsd is needed) exporting a
/// temporary folder as <c>/export</c> on a free loopback port.
/// </summary>
public sealed class NfsServer : IAsyncDisposable
{
    private readonly LocalDaemon _daemon;
    private readonly TempDirectory _home;

    private NfsServer(LocalDaemon daemon, TempDirectory home, int port)
    {
        _daemon = daemon;
        _home = home;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The folder behind the export, as the server's host sees it.</summary>
    public string ExportDirectory => _home.Combine("export");

    /// <summary>The export's path on the server.</summary>
    public const string ExportPath = "/export";

    public string Log => File.Exists(_home.Combine("ganesha.log")) ? File.ReadAllText(_home.Combine("ganesha.log")) : "";

    public static async Task<NfsServer> StartAsync()
    {
        var home = new TempDirectory("nfs");
        Directory.CreateDirectory(home.Combine("export"));
        Directory.CreateDirectory(home.Combine("recovery"));
        var port = EndpointProcess.FreePort();
        var config = home.Combine("ganesha.conf");

        // NFSv4 over TCP only: no rpcbind, no lock manager; no grace period, so it serves at once.
        await File.WriteAllTextAsync(config, $$"""
            NFS_CORE_PARAM { Protocols = 4; NFS_Port = {{port}}; Bind_addr = 127.0.0.1; Enable_UDP = false; Enable_NLM = false; Enable_RQUOTA = false; }
            NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = {{home.Combine("recovery")}}; Only_Numeric_Owners = true; }
            EXPORT { Export_Id = 1; Path = {{home.Combine("export")}}; Pseudo = {{ExportPath}}; Access_Type = RW; Squash = No_Root_Squash; SecType = sys; Protocols = 4; Transports = TCP; FSAL { Name = VFS; } }
            LOG { Default_Log_Level = EVENT; }
            """).ConfigureAwait(false);
        var log = home.Combine("ganesha.log");
        var daemon = await LocalDaemon.StartAsync("ganesha.nfsd", ["-F", "-f", config, "-L", log, "-p", home.Combine("ganesha.pid"), "-N", "NIV_EVENT"], port,
            () => File.Exists(log) ? File.ReadAllText(log) : "").ConfigureAwait(false);
        return new NfsServer(daemon, home, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync().ConfigureAwait(false);
        _home.Dispose();
    }
}
