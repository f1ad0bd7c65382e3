using System.Text.Json;
using Vic.Api.Authorization;
using Vic.TestSupport;

namespace Vic.Api.Tests.Authorization;

public sealed class AuditLogTests : IDisposable
{
    private readonly TempDirectory _home = new("audit-log");

    public void Dispose() => _home.Dispose();

    private static AuditEntry Entry(int i) =>
        new(DateTimeOffset.UnixEpoch.AddSeconds(i), "alice", "127.0.0.1", "POST", "/containers/create", $"c{i}", "run", 201, "allowed");

    [Fact]
    public void EachCallIsOneJsonLineOnlyTheOwnerCanRead()
    {
        var path = _home.Combine("audit.log");
        using (var audit = new AuditLog(path))
        {
            audit.Write(Entry(1));
            audit.Write(Entry(2) with { Outcome = "denied", Status = 403, Message = "authorization denied by plugin vch-authz: no" });
        }

        var lines = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal("alice", lines[0].GetProperty("user").GetString());
        Assert.Equal("/containers/create", lines[0].GetProperty("route").GetString());
        Assert.Equal("c1", lines[0].GetProperty("target").GetString());
        Assert.False(lines[0].TryGetProperty("message", out _));
        Assert.Equal("denied", lines[1].GetProperty("outcome").GetString());
        Assert.Equal(403, lines[1].GetProperty("status").GetInt32());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void ItRotatesAtItsSizeAndKeepsABoundedNumberOfFiles()
    {
        var path = _home.Combine("audit.log");
        using (var audit = new AuditLog(path, maxBytes: 1000))
        {
            for (var i = 0; i < 200; i++)
            {
                audit.Write(Entry(i));
            }
        }

        Assert.True(new FileInfo(path).Length <= 1000);
        Assert.True(File.Exists($"{path}.{AuditLog.KeptFiles}"));
        Assert.False(File.Exists($"{path}.{AuditLog.KeptFiles + 1}"));
        var newest = File.ReadAllLines(path).Last();
        Assert.Contains("\"target\":\"c199\"", newest, StringComparison.Ordinal);
        var older = File.ReadAllLines($"{path}.1").Last();
        Assert.Contains("\"target\":\"c", older, StringComparison.Ordinal);
    }
}
