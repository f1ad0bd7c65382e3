namespace Vic.Backends.Qemu.Tests;

/// <summary>Which starts hold a ready clone back: judged from each started QEMU's CPU time, on a clock the test moves.</summary>
public sealed class RecentStartsTests
{
    private readonly Dictionary<int, double?> _cpu = [];
    private DateTime _now = new(2026, 12, 6, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void NothingStartedHoldsNothingBack() => Assert.False(Starts().AnyBusy());

    [Fact]
    public void AStartIsBusyUntilItsQemuHasBeenSeenQuiet()
    {
        var starts = Starts();
        _cpu[10] = 1.0;
        starts.Add(10);

        var atOnce = starts.AnyBusy();
        Step(100, 10, cpu: 0.08);
        var working = starts.AnyBusy();
        Step(100, 10, cpu: 0.01);
        var settled = starts.AnyBusy();

        Assert.True(atOnce, "a start not yet looked at is busy");
        Assert.True(working, "80 % of a core is busy");
        Assert.False(settled, "10 % of a core is a start that is done");
    }

    [Fact]
    public void AShareIsMeasuredOverLooksOfAtLeastEightyMilliseconds()
    {
        var starts = Starts();
        _cpu[10] = 1.0;
        starts.Add(10);
        starts.AnyBusy();
        Step(100, 10, cpu: 0.0);
        Assert.False(starts.AnyBusy());

        // 10 ms later one tick (10 ms of CPU) shows: not a share of 100 %, the last share stands.
        Step(10, 10, cpu: 0.01);

        Assert.False(starts.AnyBusy());
    }

    [Fact]
    public void AGoneQemuAndAStartOlderThanTheWatchHoldNothingBack()
    {
        var starts = Starts();
        _cpu[10] = 1.0;
        _cpu[11] = 1.0;
        starts.Add(10);
        starts.Add(11);
        starts.AnyBusy();
        _cpu[10] = null;
        Step(100, 11, cpu: 0.1);
        Assert.True(starts.AnyBusy(), "the QEMU still there spins");

        // Still spinning, but no longer a start: a container that computes.
        for (var i = 0; i < 30; i++)
        {
            Step(100, 11, cpu: 0.1);
        }

        Assert.False(starts.AnyBusy());
    }

    private RecentStarts Starts() => new(pid => _cpu.TryGetValue(pid, out var cpu) ? cpu : null, () => _now);

    /// <summary>Moves the clock on and gives the process that much more CPU time.</summary>
    private void Step(int ms, int pid, double cpu)
    {
        _now += TimeSpan.FromMilliseconds(ms);
        _cpu[pid] += cpu;
    }
}
