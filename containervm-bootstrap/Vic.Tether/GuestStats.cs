using System.Globalization;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>Reads the guest's own figures from /proc: those of <c>docker stats</c>, and the OOM killer's count for <c>State.OOMKilled</c>.</summary>
internal static class GuestStats
{
    /// <summary>
    /// How many processes the kernel's OOM killer has killed since boot (/proc/vmstat's oom_kill);
    /// 0 when it cannot be read: a container's exit must never wait on this figure.
    /// </summary>
    public static long OomKills()
    {
        try
        {
            return File.ReadLines("/proc/vmstat").Select(l => l.Split(' ')).Where(f => f is ["oom_kill", _]).Select(f => long.TryParse(f[1], CultureInfo.InvariantCulture, out var n) ? n : 0).FirstOrDefault();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    public static StatsReport Read()
    {
        var cpu = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();

        // user+nice+system+irq+softirq+steal, in USER_HZ (100/s) ticks.
        var busyTicks = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu.Length > 7 ? cpu[7] : 0);
        var memory = File.ReadLines("/proc/meminfo").Select(l => l.Split(':')).ToDictionary(p => p[0], p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024);
        long rx = 0, tx = 0;
        foreach (var line in File.ReadLines("/proc/net/dev").Skip(2))
        {
            var parts = line.Split(':');
            if (parts[0].Trim() != "lo")
            {
                var fields = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                rx += long.Parse(fields[0], CultureInfo.InvariantCulture);
                tx += long.Parse(fields[8], CultureInfo.InvariantCulture);
            }
        }

        long read = 0, written = 0;
        foreach (var fields in File.ReadLines("/proc/diskstats").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (fields.Length > 9 && fields[2].StartsWith("vd", StringComparison.Ordinal) && !char.IsAsciiDigit(fields[2][^1]))
            {
                read += long.Parse(fields[5], CultureInfo.InvariantCulture) * 512;
                written += long.Parse(fields[9], CultureInfo.InvariantCulture) * 512;
            }
        }

        var processes = Directory.EnumerateDirectories("/proc").Count(d => Path.GetFileName(d).All(char.IsAsciiDigit));
        var total = memory.GetValueOrDefault("MemTotal");
        return new StatsReport(busyTicks * 10_000_000, total - memory.GetValueOrDefault("MemAvailable"), total, rx, tx, read, written, processes);
    }
}
