using Microsoft.Extensions.Logging;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// VIC's <c>--syslog-address</c> against rsyslogd: the endpoint's own log reaches the server, each
/// entry at its level's severity, from the VCH's name, tagged vch-endpoint; an address that is none
/// stops the endpoint before it serves, naming the option.
/// </summary>
public sealed class EndpointSyslogTests : IDisposable
{
    private readonly TempDirectory _home = new("vch-syslog");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TheEndpointsLogReachesTheSyslogServerFromTheVchsName()
    {
        await using var syslog = await SyslogServer.StartAsync();
        var port = EndpointProcess.FreePort();
        await using var endpoint = await EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--name", "vch-logs", "--syslog-address", $"tcp://127.0.0.1:{syslog.TcpPort}"]);

        var messages = await Eventually.WaitForAsync(() => Task.FromResult(syslog.Messages), m => m.Any(l => l.Contains("serving the Docker API", StringComparison.Ordinal)), TimeSpan.FromSeconds(20));

        // daemon.info is 30; rsyslog read the host and the tag out of each RFC 5424 message.
        Assert.Contains(messages, m => m.StartsWith("30 vch-logs vch-endpoint", StringComparison.Ordinal) && m.Contains("Vic.Endpoint[100] VCH vch-logs (", StringComparison.Ordinal));
        Assert.All(messages, m => Assert.Matches(@"^\d+ vch-logs vch-endpoint.*\|<\d+>1 \S+ vch-logs vch-endpoint \d+ vch-endpoint - ", m));
    }

    [Fact]
    public async Task EachLevelArrivesAtItsSeverityAndTheLastLinesGoOutWhenTheLogIsDisposed()
    {
        await using var syslog = await SyslogServer.StartAsync();
        var target = Vic.PortLayer.Containers.SyslogTarget.ForEndpoint($"tcp://127.0.0.1:{syslog.TcpPort}", "vch-endpoint");
        using (var provider = new Vic.Endpoint.Hosting.SyslogLoggerProvider(new Vic.PortLayer.Runtime.SyslogForwarder(target, target.Tag, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "vch-levels"), TimeProvider.System))
        {
            var logger = provider.CreateLogger("Vic.Test");
            foreach (var (level, id, text) in new[] { (LogLevel.Information, 1, "an information"), (LogLevel.Warning, 2, "a warning"), (LogLevel.Error, 3, "an error") })
            {
                logger.Log(level, new EventId(id), text, null, (state, _) => state);
            }
        }

        var messages = await Eventually.WaitForAsync(() => Task.FromResult(syslog.Messages), m => m.Count >= 3, TimeSpan.FromSeconds(20));

        // daemon (3): info 30, warning 28, err 27.
        Assert.Contains(messages, m => m.StartsWith("30 vch-levels ", StringComparison.Ordinal) && m.EndsWith(" - Vic.Test[1] an information", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("28 vch-levels ", StringComparison.Ordinal) && m.EndsWith(" - Vic.Test[2] a warning", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("27 vch-levels ", StringComparison.Ordinal) && m.EndsWith(" - Vic.Test[3] an error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnAddressThatIsNoneStopsTheEndpointNamingTheOption()
    {
        var port = EndpointProcess.FreePort();
        await using var endpoint = EndpointProcess.Launch(port, "-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--syslog-address", "logs:514");

        Assert.Equal(2, await endpoint.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("vch-endpoint: syslog-address should be in form proto://address, got logs:514 (--syslog-address)", endpoint.Output, StringComparison.Ordinal);
    }
}
