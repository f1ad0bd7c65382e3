using System.Diagnostics;
using System.Globalization;

namespace Vic.Backends.Qemu;

/// <summary>
/// Waits until a freshly booted guest has gone idle, judged by its QEMU process's CPU time. A guest
/// that answers its first hello, or has just rehearsed a start, still has work queued (the kernel's
/// deferred calibrations, entropy and clean-ups; the JIT-compiled tether's tiering, when it had
/// one), and a template saved then hands that work to every clone: under emulation, 0.1-0.2 s more
/// before each clone's tether answers.
/// </summary>
internal static class GuestQuiescence
{
    /// <summary>Clock ticks in /proc/PID/stat (USER_HZ, 100 on every Linux this runs on).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>Returns once the process has used at most <paramref name="busyShare"/> of one CPU over a whole <paramref name="window"/>, or when <paramref name="limit"/> has passed; tells how long it waited.</summary>
    public static async Task<TimeSpan> WaitAsync(int pid, TimeSpan window, double busyShare, TimeSpan limit, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var before = CpuSeconds(pid);
        while (watch.Elapsed < limit)
        {
            await Task.Delay(window, cancellationToken).ConfigureAwait(false);
            var now = CpuSeconds(pid);
            if (now is null || before is null || now - before <= busyShare * window.TotalSeconds)
            {
                break;
            }

            before = now;
        }

        return watch.Elapsed;
    }

    /// <summary>User plus system CPU time of the process, or null when it is gone.</summary>
    internal static double? CpuSeconds(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }

        // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
        // utime 14 and stime 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }
}
