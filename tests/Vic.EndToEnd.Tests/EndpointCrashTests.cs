using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The endpoint is killed with SIGKILL while containers run and is started again: every container
/// keeps its state, running ones still run and take execs, logs lose nothing written while the
/// endpoint was away, and a container that ended meanwhile has its real exit code.
/// </summary>
public sealed class EndpointCrashTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-crash");
    private QemuVch _vch = null!;

    public async Task InitializeAsync() => _vch = await QemuVch.StartAsync(_home);

    public async Task DisposeAsync() => await _vch.DisposeAsync();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task ContainersSurviveAKilledEndpoint()
    {
        await _vch.DockerAsync("run", "-d", "--name", "alive", "busybox", "sh", "-c", "echo one; sleep 3; echo two; exec sleep 600");
        await _vch.DockerAsync("run", "-d", "--name", "ender", "busybox", "sh", "-c", "sleep 3; echo bye; exit 3");
        await _vch.DockerAsync("create", "--name", "fresh", "busybox", "true");
        Assert.Equal(5, (await _vch.TryDockerAsync("run", "--name", "done", "busybox", "sh", "-c", "exit 5")).ExitCode);
        await Eventually.WaitForAsync(async () => (await _vch.DockerAsync("logs", "alive")).StandardOutput.Contains("one", StringComparison.Ordinal));

        // Both containers print and one ends while nobody listens.
        await _vch.CrashAndRestartAsync(meanwhile: () => Task.Delay(TimeSpan.FromSeconds(5)));

        var states = (await _vch.DockerAsync("ps", "-a", "--format", "{{.Names}} {{.State}}")).StandardOutput;
        Assert.Contains("alive running", states, StringComparison.Ordinal);
        Assert.Contains("fresh created", states, StringComparison.Ordinal);
        Assert.Contains("done exited", states, StringComparison.Ordinal);
        Assert.Equal("3\n", (await _vch.DockerAsync("wait", "ender")).StandardOutput);
        Assert.Equal("3\n", (await _vch.DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "ender")).StandardOutput);
        Assert.Equal("bye\n", (await _vch.DockerAsync("logs", "ender")).StandardOutput);
        await Eventually.WaitForAsync(async () => (await _vch.DockerAsync("logs", "alive")).StandardOutput == "one\ntwo\n");
        Assert.Equal("still here\n", (await _vch.DockerAsync("exec", "alive", "echo", "still here")).StandardOutput);

        // The process is not PID 1 of a namespace here (the tether is), so SIGTERM ends sleep: 143.
        await _vch.DockerAsync("stop", "-t", "1", "alive");
        Assert.Equal("exited 143\n", (await _vch.DockerAsync("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "alive")).StandardOutput);
    }
}
