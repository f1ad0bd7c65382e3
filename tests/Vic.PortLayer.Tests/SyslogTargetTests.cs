using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.PortLayer.Tests;

/// <summary>The syslog log driver's options and messages, byte for byte as dockerd's driver writes them.</summary>
public sealed class SyslogTargetTests
{
    private static readonly DateTimeOffset Time = new(2026, 12, 5, 10, 11, 12, 123, 456, TimeSpan.Zero);

    private static SyslogTarget Target(params (string Key, string Value)[] options) =>
        SyslogTarget.Parse(options.ToDictionary(o => o.Key, o => o.Value));

    [Theory]
    [InlineData("", false, "<30>Dec  5 10:11:12 web[4242]: hello\n")]
    [InlineData("rfc3164", true, "<27>Dec  5 10:11:12 vch1 web[4242]: hello\n")]
    [InlineData("rfc5424", false, "<30>1 2026-12-05T10:11:12Z vch1 web 4242 web - hello\n")]
    [InlineData("rfc5424micro", true, "<27>1 2026-12-05T10:11:12.123456Z vch1 web 4242 web - hello\n")]
    public void EachFormatWritesALineAsDockerdsDriverDoes(string format, bool stderr, string message) =>
        Assert.Equal(message, Target(("syslog-address", "udp://logs"), ("syslog-format", format)).Message(stderr ? 3 : 6, "web", "hello", Time, "vch1", 4242));

    [Fact]
    public void TheFacilityIsNamedOrNumberedAndAnOffsetIsWrittenAsGoWritesIt()
    {
        var local7 = Target(("syslog-address", "tcp://logs:601"), ("syslog-facility", "local7"), ("syslog-format", "rfc5424"));

        Assert.Equal("<190>1 2026-12-05T11:11:12+01:00 h t 1 t - x\n", local7.Message(6, "t", "x\n", Time.ToOffset(TimeSpan.FromHours(1)), "h", 1));
        Assert.Equal(2, Target(("syslog-facility", "2")).Facility);
    }

    [Theory]
    [InlineData("udp://logs.example.com", "udp", "logs.example.com:514")]
    [InlineData("tcp://10.0.0.5:601", "tcp", "10.0.0.5:601")]
    [InlineData("unix:///run/syslog.sock", "unix", "/run/syslog.sock")]
    [InlineData("", "unixgram", "/dev/log")]
    public void TheAddressIsDockerdsProtoAddressWithSyslogsPortByDefault(string address, string protocol, string where)
    {
        var target = Target(("syslog-address", address));
        Assert.Equal((protocol, where), (target.Protocol, target.Address));
        Assert.Equal("{{.ID}}", target.Tag);
    }

    [Fact]
    public void TheTagTemplateNamesTheContainerAndItsImage()
    {
        const string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        Assert.Equal("web/0123456789ab/busybox@fedcba987654", SyslogTarget.ExpandTag("{{.Name}}/{{.ID}}/{{.ImageName}}@{{ .ImageID }}", id, "/web", "sha256:fedcba9876543210", "busybox"));
        Assert.Equal($"docker-{id} sha256:fedcba9876543210", SyslogTarget.ExpandTag("{{.DaemonName}}-{{.FullID}} {{.ImageFullID}}", id, "web", "sha256:fedcba9876543210", ""));
    }

    [Fact]
    public void TheSyslogDriverKeepsACacheDockerLogsReadsUnlessItIsDisabled()
    {
        var cached = LogSettings.Parse("syslog", new Dictionary<string, string> { ["syslog-address"] = "udp://logs", ["cache-max-size"] = "1m", ["cache-max-file"] = "2" });
        var uncached = LogSettings.Parse("syslog", new Dictionary<string, string> { ["syslog-address"] = "tcp://logs", ["cache-disabled"] = "true" });

        Assert.True(cached.Readable);
        Assert.Equal((1L << 20, 2), (cached.MaxSizeBytes, cached.MaxFiles));
        Assert.False(uncached.Readable);
        Assert.NotNull(cached.Syslog);
        Assert.Null(LogSettings.Default.Syslog);
    }

    [Fact]
    public async Task TheForwarderSendsEachLineAsADatagramAndDropsNoneWhileTheServerListens()
    {
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)server.Client.LocalEndPoint!).Port;
        var target = Target(("syslog-address", $"udp://127.0.0.1:{port}"), ("syslog-format", "rfc5424"));
        await using (var forwarder = new SyslogForwarder(target, "web", NullLogger.Instance))
        {
            forwarder.Send(OutputStream.Stdout, "one\ntwo\n"u8, Time);
            forwarder.Send(OutputStream.Stderr, "three"u8, Time);
            forwarder.Flush(Time);

            var received = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                received.Add(Encoding.UTF8.GetString((await server.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(10))).Buffer));
            }

            Assert.Equal(["one\n", "two\n", "three\n"], received.Select(m => m[(m.IndexOf(" - ", StringComparison.Ordinal) + 3)..]));
            Assert.StartsWith("<30>1 ", received[0], StringComparison.Ordinal);
            Assert.StartsWith("<27>1 ", received[2], StringComparison.Ordinal);
            Assert.Equal(0, forwarder.Dropped);
        }
    }

    [Fact]
    public async Task ALineIsOneMessageWhicheverChunksItCameInAndALongOneIsCutAt16KiB()
    {
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)server.Client.LocalEndPoint!).Port;
        await using var forwarder = new SyslogForwarder(Target(("syslog-address", $"udp://127.0.0.1:{port}"), ("syslog-format", "rfc5424")), "web", NullLogger.Instance, hostname: "vch1");
        var euro = "€"u8.ToArray();

        forwarder.Send(OutputStream.Stdout, "hel"u8, Time);
        forwarder.Send(OutputStream.Stderr, "err\n"u8, Time);
        forwarder.Send(OutputStream.Stdout, [.. "lo "u8, euro[0]], Time);
        forwarder.Send(OutputStream.Stdout, [euro[1], euro[2], (byte)'\n'], Time);
        forwarder.Send(OutputStream.Stdout, Encoding.ASCII.GetBytes(new string('x', SyslogForwarder.MaxLineBytes + 10)), Time);
        forwarder.Flush(Time);

        var received = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var message = Encoding.UTF8.GetString((await server.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(10))).Buffer);
            received.Add(message[(message.IndexOf(" - ", StringComparison.Ordinal) + 3)..]);
        }

        Assert.Equal(["err\n", "hello €\n", new string('x', SyslogForwarder.MaxLineBytes) + "\n", "xxxxxxxxxx\n"], received);
    }

    [Fact]
    public async Task AServerThatIsNotThereCostsTheLinesNotTheContainersOutput()
    {
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var forwarder = new SyslogForwarder(Target(("syslog-address", $"tcp://127.0.0.1:{port}")), "web", NullLogger.Instance);

        forwarder.Send(OutputStream.Stdout, "lost\nand this\n"u8, Time);
        await forwarder.DisposeAsync();

        // The first line tried the server twice; the second came within the second that follows and was not tried.
        Assert.Equal(2, forwarder.Dropped);
    }
}
