using Vic.Api.ContainersApi;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;

namespace Vic.Api.Tests;

/// <summary>docker top's ps_args laid out from the guest's process figures, as ps would print them.</summary>
public sealed class PsFormatTests
{
    private static readonly DateTime Today = new(2026, 12, 4, 0, 0, 0, DateTimeKind.Utc);

    private static readonly ContainerProcess Sleeper = new(42, 7, "root", "?", new DateTimeOffset(2026, 12, 4, 9, 30, 0, TimeSpan.Zero), TimeSpan.FromSeconds(75), "sleep 600")
    {
        Uid = 0,
        Stat = "Ss",
        VszKb = 1320,
        RssKb = 512,
        CpuPercent = 1.5,
        MemPercent = 0.2,
    };

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-ef")]
    public void TheDefaultIsPsEf(string? args)
    {
        var format = PsFormat.Parse(args);

        Assert.Equal(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], format.ColumnTitles);
        Assert.Equal(["root", "42", "7", "1", "09:30", "?", "00:01:15", "sleep 600"], format.Row(Sleeper, Today));
    }

    [Fact]
    public void AuxIsBsdsUserFormat()
    {
        var format = PsFormat.Parse("aux");

        Assert.Equal(["USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"], format.ColumnTitles);
        Assert.Equal(["root", "42", "1.5", "0.2", "1320", "512", "?", "Ss", "09:30", "00:01:15", "sleep 600"], format.Row(Sleeper, Today));
    }

    [Fact]
    public void DashOChoosesTheColumns()
    {
        var format = PsFormat.Parse("-o pid,comm,rss");

        Assert.Equal(["PID", "COMMAND", "RSS"], format.ColumnTitles);
        Assert.Equal(["42", "sleep", "512"], format.Row(Sleeper, Today));
    }

    [Theory]
    [InlineData("-o comm", "Couldn't find PID field in ps output")]
    [InlineData("-o pid,nosuch", "ps_args \"-o pid,nosuch\": unknown ps field \"nosuch\"")]
    [InlineData("--forest", "ps_args \"--forest\" are not supported by this VCH")]
    public void OtherFormsAreRefusedByName(string args, string message)
    {
        var error = Assert.Throws<PortLayerException>(() => PsFormat.Parse(args));

        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }
}
