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
        // Spins in the shell itself (no child processes, whose time is not the shell's) for 1-2 s,
        // then sleeps: the wait ends after the spin, well before the limit. A low bar for busy (1% of
        // a CPU): the spinner shares two cores with ContainerVMs other tests boot.
        var waited = await WaitForAsync(
            "end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do :; done; exec sleep 30", busyShare: 0.01, limit: TimeSpan.FromSeconds(10));

        Assert.InRange(waited, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task AProcessThatSpinsPastTheLimitIsGivenUpOnAtTheLimit()
    {
        var waited = await WaitForAsync("while :; do :; done", busyShare: 0.01, limit: TimeSpan.FromSeconds(1));

        Assert.InRange(waited, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void AGoneProcessHasNoCpuTime() => Assert.Null(GuestQuiescence.CpuSeconds(int.MaxValue));

    private static async Task<TimeSpan> WaitForAsync(string script, double busyShare, TimeSpan limit)
    {
        using var process = Process.Start("bash", ["-c", script]);
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
