using System.Diagnostics;
using Vic.TestSupport;

namespace Vic.Bootstrap.Tests;

/// <summary>
/// The appliance's vic-supervise (iso/vic-supervise.sh), run by busybox's shell as the appliance runs
/// it: an endpoint killed from outside or failing is started again with the same arguments after a
/// growing delay, and one that stops of itself ends the supervision (the appliance then powers off).
/// </summary>
public sealed class ApplianceSupervisorTests : IDisposable
{
    private readonly TempDirectory _home = new("supervise");

    [Fact]
    public async Task AnEndpointKilledOrFailingIsStartedAgainAndOneThatStopsEndsTheSupervision()
    {
        var runs = _home.Combine("runs");
        var pidFile = _home.Combine("pid");
        // The first run waits to be killed, as an endpoint the OOM killer picks; the second fails;
        // the third stops of itself.
        var endpoint = _home.Combine("endpoint.sh");
        File.WriteAllText(endpoint, """
            #!/bin/sh
            echo "$*" >>"$RUNS"
            case $(wc -l <"$RUNS") in
              1) echo $$ >"$PID_FILE.tmp"; mv "$PID_FILE.tmp" "$PID_FILE"; exec sleep 60 ;;
              2) exit 3 ;;
              *) exit 0 ;;
            esac
            """);
        File.SetUnixFileMode(endpoint, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var clock = Stopwatch.StartNew();
        var supervised = Command.RunAsync(
            "busybox",
            ["sh", Repository.Combine("iso", "vic-supervise.sh"), endpoint, "--data-dir", "/data/vch", "-H", "tcp://0.0.0.0:2376"],
            new Dictionary<string, string> { ["RUNS"] = runs, ["PID_FILE"] = pidFile, ["VIC_SUPERVISE_DELAY_LIMIT"] = "2" },
            timeout: TimeSpan.FromSeconds(60));
        while (!File.Exists(pidFile) && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        Assert.True(File.Exists(pidFile), "the first run never started");
        var kill = await Command.RunAsync("kill", ["-9", File.ReadAllText(pidFile).Trim()]);
        Assert.True(kill.ExitCode == 0, kill.ToString());
        var result = await supervised;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            Enumerable.Repeat("--data-dir /data/vch -H tcp://0.0.0.0:2376", 3),
            File.ReadAllLines(runs));
        Assert.Equal(
            [
                "vic-supervise: the endpoint was killed by signal 9; starting it again in 1 s",
                "vic-supervise: the endpoint failed with status 3; starting it again in 2 s",
            ],
            result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3), $"the delays were not waited: {clock.Elapsed}");
    }

    [Fact]
    public async Task ARunThatLastedTheSteadyTimeStartsTheDelayAgainFromItsFirstValue()
    {
        var runs = _home.Combine("runs");
        var endpoint = _home.Combine("endpoint.sh");
        File.WriteAllText(endpoint, """
            #!/bin/sh
            echo run >>"$RUNS"
            [ "$(wc -l <"$RUNS")" -lt 3 ] && exit 1
            exit 0
            """);
        File.SetUnixFileMode(endpoint, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // Every run counts as steady: the delay never doubles.
        var result = await Command.RunAsync(
            "busybox",
            ["sh", Repository.Combine("iso", "vic-supervise.sh"), endpoint],
            new Dictionary<string, string> { ["RUNS"] = runs, ["VIC_SUPERVISE_STEADY"] = "0" },
            timeout: TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            [
                "vic-supervise: the endpoint failed with status 1; starting it again in 1 s",
                "vic-supervise: the endpoint failed with status 1; starting it again in 1 s",
            ],
            result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    public void Dispose() => _home.Dispose();
}
