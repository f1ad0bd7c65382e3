using Microsoft.Extensions.Time.Testing;
using Vic.Admin.Access;

namespace Vic.Admin.Tests;

public sealed class AdminSessionsTests
{
    [Fact]
    public void ASessionLivesWhileItIsUsedAndEndsAfterAnIdleHourOrALogout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-04T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var sessions = new AdminSessions(time);
        var token = sessions.Open("admin");
        var other = sessions.Open("ops");
        Assert.NotEqual(token, other);

        time.Advance(TimeSpan.FromMinutes(50));
        Assert.Equal("admin", sessions.UserOf(token));
        time.Advance(TimeSpan.FromMinutes(50));
        Assert.Equal("admin", sessions.UserOf(token));
        Assert.Null(sessions.UserOf(other));

        sessions.Close(token);
        Assert.Null(sessions.UserOf(token));
        Assert.Null(sessions.UserOf(null));
        Assert.Null(sessions.UserOf("forged"));
    }

    [Fact]
    public void AFloodOfLoginsForgetsTheLongestIdleAndKeepsTheBoundedCount()
    {
        var time = new FakeTimeProvider();
        var sessions = new AdminSessions(time);
        var first = sessions.Open("first");
        time.Advance(TimeSpan.FromSeconds(1));
        var tokens = Enumerable.Range(0, AdminSessions.MaxSessions).Select(i =>
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            return sessions.Open($"user{i}");
        }).ToList();

        Assert.Null(sessions.UserOf(first));
        Assert.Equal("user0", sessions.UserOf(tokens[0]));
        Assert.Equal($"user{AdminSessions.MaxSessions - 1}", sessions.UserOf(tokens[^1]));
    }
}
