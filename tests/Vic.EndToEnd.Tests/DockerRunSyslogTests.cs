using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

public sealed partial class DockerRunTests
{
    /// <summary>
    /// The syslog log driver against rsyslogd: each line a message (stdout at info, stderr at err,
    /// the facility and tag asked for) over UDP in RFC 5424 and over TCP in dockerd's default form;
    /// `docker logs` still reads it (dockerd's dual logging) unless the cache is disabled.
    /// </summary>
    [Fact]
    public async Task TheSyslogDriverSendsEachLineToTheServerAndDockerLogsStillReadsIt()
    {
        await using var syslog = await SyslogServer.StartAsync();

        await DockerAsync("run", "--name", "syslog-udp", "--log-driver", "syslog", "--log-opt", $"syslog-address=udp://127.0.0.1:{syslog.UdpPort}",
            "--log-opt", "syslog-format=rfc5424", "--log-opt", "syslog-facility=local3", "--log-opt", "tag={{.Name}}", "busybox", "sh", "-c", "echo to out; echo to err >&2");
        await DockerAsync("run", "--name", "syslog-tcp", "--log-driver", "syslog", "--log-opt", $"syslog-address=tcp://127.0.0.1:{syslog.TcpPort}",
            "--log-opt", "cache-disabled=true", "busybox", "echo", "over tcp");
        var id = (await DockerAsync("inspect", "-f", "{{.Id}}", "syslog-tcp")).StandardOutput.Trim();
        var messages = await Eventually.WaitForAsync(() => Task.FromResult(syslog.Messages), m => m.Count >= 3, TimeSpan.FromSeconds(20));
        var logs = await DockerAsync("logs", "syslog-udp");
        var uncached = await Vch.TryDockerAsync("logs", "syslog-tcp");
        await DockerAsync("rm", "syslog-udp", "syslog-tcp");

        // local3 (19): info is 158, err 155, as rsyslog parsed the priority; each raw message as dockerd writes it.
        Assert.Contains(messages, m => m.StartsWith("158 ", StringComparison.Ordinal) && m.Contains("|<158>1 ", StringComparison.Ordinal) && m.EndsWith(" syslog-udp - to out", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("155 ", StringComparison.Ordinal) && m.Contains("|<155>1 ", StringComparison.Ordinal) && m.EndsWith(" syslog-udp - to err", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("30 ", StringComparison.Ordinal) && m.Contains("|<30>", StringComparison.Ordinal) && m.Contains($" {id[..12]}[", StringComparison.Ordinal) && m.EndsWith("]: over tcp", StringComparison.Ordinal));
        Assert.Equal("to out\n", logs.StandardOutput);
        Assert.Equal("to err\n", logs.StandardError);
        Assert.NotEqual(0, uncached.ExitCode);
        Assert.Contains("configured logging driver does not support reading", uncached.StandardError, StringComparison.Ordinal);
    }
}
