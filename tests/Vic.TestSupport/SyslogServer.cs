namespace Vic.TestSupport;

/// <summary>
/// Debian's rsyslogd, a real syslog server, on loopback ports of its own (UDP and TCP), writing
/// each message it is sent as rsyslog parsed it and as it came: "PRI HOSTNAME TAG MSG|RAW".
/// </summary>
public sealed class SyslogServer : IAsyncDisposable
{
    private readonly LocalDaemon _daemon;
    private readonly TempDirectory _home;

    private SyslogServer(LocalDaemon daemon, TempDirectory home, int udpPort, int tcpPort)
    {
        _daemon = daemon;
        _home = home;
        UdpPort = udpPort;
        TcpPort = tcpPort;
    }

    public int UdpPort { get; }

    public int TcpPort { get; }

    /// <summary>The messages received so far, one a line.</summary>
    public IReadOnlyList<string> Messages => File.Exists(_home.Combine("messages")) ? File.ReadAllLines(_home.Combine("messages")) : [];

    public static async Task<SyslogServer> StartAsync()
    {
        var home = new TempDirectory("rsyslog");
        var tcpPort = EndpointProcess.FreePort();
        int udpPort;
        using (var probe = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)))
        {
            udpPort = ((System.Net.IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        var config = home.Combine("rsyslog.conf");
        await File.WriteAllTextAsync(config, $"""
            global(workDirectory="{home.Path}")
            module(load="imudp")
            module(load="imtcp")
            input(type="imudp" port="{udpPort}" address="127.0.0.1")
            input(type="imtcp" port="{tcpPort}" address="127.0.0.1")
            template(name="parsed" type="string" string="%pri% %hostname% %syslogtag% %msg%|%rawmsg%\n")
            *.* action(type="omfile" file="{home.Combine("messages")}" template="parsed")

            """).ConfigureAwait(false);
        var daemon = await LocalDaemon.StartAsync("rsyslogd", ["-n", "-f", config, "-i", home.Combine("rsyslogd.pid")], tcpPort, () => "").ConfigureAwait(false);
        return new SyslogServer(daemon, home, udpPort, tcpPort);
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync().ConfigureAwait(false);
        _home.Dispose();
    }
}
