namespace Vic.Backends.Qemu;

/// <summary>
/// The QEMUs of ContainerVMs started lately, and whether any of them is still busy with its start.
/// Under TCG a start is CPU work (the clone translates the code it runs), and on a host of two cores
/// a ready clone being made beside it slows it by half: the pool's work waits while this says busy
/// (<see cref="ReadyClonePool"/> stops a ready clone's QEMU until then).
/// </summary>
internal sealed class RecentStarts
{
    /// <summary>A start older than this holds nothing back, busy or not: a container that computes is not a start.</summary>
    public static readonly TimeSpan Watched = TimeSpan.FromSeconds(3);

    /// <summary>The share of one core above which a started QEMU counts as busy with its start.</summary>
    private const double BusyShare = 0.3;

    /// <summary>The shortest span a share is measured over: CPU times come in 10 ms ticks.</summary>
    private static readonly TimeSpan ShortestLook = TimeSpan.FromMilliseconds(80);

    private readonly Lock _lock = new();
    private readonly List<Start> _starts = [];
    private readonly Func<int, double?> _cpuSeconds;
    private readonly Func<DateTime> _now;

    /// <param name="cpuSeconds">A process's CPU time so far, or null when it is gone.</param>
    /// <param name="now">The clock.</param>
    public RecentStarts(Func<int, double?>? cpuSeconds = null, Func<DateTime>? now = null)
    {
        _cpuSeconds = cpuSeconds ?? GuestQuiescence.CpuSeconds;
        _now = now ?? (() => DateTime.UtcNow);
    }

    /// <summary>A ContainerVM's QEMU has just been started or handed out for a start.</summary>
    public void Add(int pid)
    {
        var now = _now();
        lock (_lock)
        {
            _starts.RemoveAll(s => now - s.At > Watched);
            _starts.Add(new Start(pid, now));
        }
    }

    /// <summary>
    /// True while a start of the last <see cref="Watched"/> is busy: younger than one look, or its
    /// QEMU used more than <see cref="BusyShare"/> of a core over the last look. Each call looks.
    /// </summary>
    public bool AnyBusy()
    {
        var now = _now();
        lock (_lock)
        {
            _starts.RemoveAll(s => now - s.At > Watched);
            var busy = false;
            foreach (var start in _starts.ToList())
            {
                var cpu = _cpuSeconds(start.Pid);
                if (cpu is null)
                {
                    _starts.Remove(start);
                    continue;
                }

                if (start.LastCpu is null)
                {
                    (start.LastCpu, start.LastLook) = (cpu, now);
                    busy = true;
                    continue;
                }

                if (now - start.LastLook >= ShortestLook)
                {
                    start.Share = (cpu.Value - start.LastCpu.Value) / (now - start.LastLook).TotalSeconds;
                    (start.LastCpu, start.LastLook) = (cpu, now);
                }

                busy |= start.Share is not { } share || share > BusyShare;
            }

            return busy;
        }
    }

    private sealed class Start(int pid, DateTime at)
    {
        public int Pid { get; } = pid;

        public DateTime At { get; } = at;

        public double? LastCpu { get; set; }

        public DateTime LastLook { get; set; }

        public double? Share { get; set; }
    }
}
