using Microsoft.Extensions.Logging;
using Vic.Admin.Logs;

namespace Vic.Admin.Tests;

public sealed class EndpointLogBufferTests
{
    [Fact]
    public void ItKeepsTheNewestLinesUpToItsCapacity()
    {
        using var buffer = new EndpointLogBuffer(capacity: 3);
        var logger = buffer.CreateLogger("Vic.Test");
        for (var i = 1; i <= 5; i++)
        {
            Write(logger, LogLevel.Information, $"line {i}", 4000 + i);
        }

        var lines = buffer.Snapshot();
        Assert.Equal(["line 3", "line 4", "line 5"], lines.Select(l => l.Message));
        Assert.Equal([4003, 4004, 4005], lines.Select(l => l.EventId));
        Assert.All(lines, l => Assert.Equal("info", l.Level));
        Assert.Equal("Vic.Test", lines[0].Category);
        Assert.True(lines[0].Sequence < lines[1].Sequence);
    }

    [Fact]
    public async Task AFollowerGetsTheHistoryThenEveryLaterLineAndIsLetGoWhenItLeaves()
    {
        using var buffer = new EndpointLogBuffer();
        var logger = buffer.CreateLogger("Vic.Test");
        Write(logger, LogLevel.Warning, "before");
        using var leave = new CancellationTokenSource();
        var (history, live) = buffer.Follow(leave.Token);
        Write(logger, LogLevel.Error, "after", exception: new InvalidOperationException("boom"));

        Assert.Equal("before", Assert.Single(history).Message);
        var next = await live.ReadAsync();
        Assert.Equal("fail", next.Level);
        Assert.Contains("boom", next.Message, StringComparison.Ordinal);

        await leave.CancelAsync();
        Write(logger, LogLevel.Information, "nobody reads this");
        await live.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(live.TryRead(out _));
    }

    private static void Write(ILogger logger, LogLevel level, string message, int eventId = 0, Exception? exception = null) =>
        logger.Log(level, new EventId(eventId), message, exception, (text, _) => text);
}
