using System.Globalization;

namespace Vic.Tether;

/// <summary>Times since the guest booted, as the kernel counts them (what the hello reports of the tether's start).</summary>
internal static class GuestClock
{
    /// <summary>Clock ticks in /proc/PID/stat (USER_HZ, 100 on every Linux kernel the tether runs on).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>Seconds since boot, or 0 where /proc has no uptime (a test on a host without procfs).</summary>
    public static double Uptime() =>
        Read("/proc/uptime") is { } text ? double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture) : 0;

    /// <summary>
    /// Seconds from boot to this process's exec, or 0. As PID 1 the tether is exec'd by vic-init,
    /// which says when (<c>VIC_INIT_DONE_MS</c>): /proc's start time would be the kernel's start of init.
    /// </summary>
    public static double Executed()
    {
        if (double.TryParse(Environment.GetEnvironmentVariable("VIC_INIT_DONE_MS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms))
        {
            return ms / 1000;
        }

        if (Read("/proc/self/stat") is not { } stat)
        {
            return 0;
        }

        // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, starttime 22.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[19], CultureInfo.InvariantCulture) / TicksPerSecond;
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
