using System.Diagnostics;

namespace Vic.Backends.Qemu.Tests;

/// <summary>The template is saved once its guest goes idle: judged from real processes' CPU time.</summary>
public sealed class GuestQuiescenceTests
{
    [Fact]
    public async Task AnIdleProcessIsIdleAtOnce()
    {
        var waited = await WaitForAsync("exec sleep 30", busyShare: 0.1, limit: TimeSpan.FromSeconds(10));

        Assert.True(waited < TimeSpan.FromSeconds(1.5), $"waited {waited}");
    }

    [Fact]
    public async Task ABusyProcessIsWaitedForUntilItSettles()
    {
        // Spins for 1.5 s, then sleeps: the wait ends after the spin, well before the limit. A low bar
        // for busy (5% of a CPU): the spinner shares two cores with whatever else runs.
        var waited = await WaitForAsync(
            "end=$(($(date +%s%N) + 1500000000)); while [ $(date +%s%N) -lt $end ]; do :; done; exec sleep 30", busyShare: 0.05, limit: TimeSpan.FromSeconds(10));

        Assert.InRange(waited, TimeSpan.FromSeconds(1.3), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task AProcessThatSpinsPastTheLimitIsGivenUpOnAtTheLimit()
    {
        var waited = await WaitForAsync("while :; do :; done", busyShare: 0.1, limit: TimeSpan.FromSeconds(1));

        Assert.InRange(waited, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void AGoneProcessHasNoCpuTime() => Assert.Null(GuestQuiescence.CpuSeconds(int.MaxValue));

    private static async Task<TimeSpan> WaitForAsync(string script, double busyShare, TimeSpan limit)
    {
        using var process = Process.Start("sh", ["-c", script]);
        try
        {
            Assert.NotNull(GuestQuiescence.CpuSeconds(process.Id));
            return await GuestQuiescence.WaitAsync(process.Id, TimeSpan.FromMilliseconds(200), busyShare, limit, CancellationToken.None);
        }
        finally
        {
            process.Kill();
        }
    }
}
