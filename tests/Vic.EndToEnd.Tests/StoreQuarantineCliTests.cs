using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// A store record that cannot be read, as the docker CLI meets it after a restart: the rest of the
/// VCH serves and <c>docker info</c> says what was set aside.
/// </summary>
public sealed class StoreQuarantineCliTests : IDisposable
{
    private readonly TempDirectory _home = new("vch-quarantine");

    public void Dispose() => _home.Dispose();

    private Task<EndpointProcess> StartAsync(int port) => EndpointProcess.StartAsync(port, ["-H", $"tcp://127.0.0.1:{port}", "--data-dir", _home.Combine("data"), "--name", "quarantine-vch"]);

    [Fact]
    public async Task DockerInfoWarnsOfASetAsideRecordAndTheRestOfTheVchServes()
    {
        var port = EndpointProcess.FreePort();
        var host = $"tcp://127.0.0.1:{port}";
        await using (await StartAsync(port))
        {
            Assert.Equal(0, (await Command.DockerAsync(host, "volume", "create", "broken")).ExitCode);
            Assert.Equal(0, (await Command.DockerAsync(host, "volume", "create", "kept")).ExitCode);
        }

        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_home.Combine("data", "vch.db")};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "UPDATE records SET body = '{\"name\": ' WHERE id = 'broken';";
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        await using var restarted = await StartAsync(port);
        var info = await Command.DockerAsync(host, "info");
        var volumes = await Command.DockerAsync(host, "volume", "ls", "--format", "{{.Name}}");
        var created = await Command.DockerAsync(host, "volume", "create", "after");

        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("WARNING: ", info.StandardOutput + info.StandardError, StringComparison.Ordinal);
        Assert.Contains("volume broken could not be read", info.StandardOutput + info.StandardError, StringComparison.Ordinal);
        Assert.Equal("kept", volumes.StandardOutput.Trim());
        Assert.True(created.ExitCode == 0, created.ToString());
    }
}
