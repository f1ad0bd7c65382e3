namespace Vic.Disks.Ext4;

/// <summary>
/// ext4's timestamp: a signed 32-bit second count plus an "extra" word holding 2 epoch bits (each adding
/// 2^32 s) and the nanoseconds. That covers 1901 to 2446; times outside are clamped.
/// </summary>
internal static class Ext4Time
{
    private const long Min = int.MinValue;
    private const long Max = int.MaxValue + (3L << 32);

    public static (uint Seconds, uint Extra) Encode(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }

        var nanoseconds = (uint)(remainder * 100);
        if (seconds < Min || seconds > Max)
        {
            (seconds, nanoseconds) = (Math.Clamp(seconds, Min, Max), 0);
        }

        var epoch = (uint)((seconds - (int)seconds) >> 32) & 3;
        return ((uint)(int)seconds, epoch | (nanoseconds << 2));
    }

    /// <summary>The plain 32-bit seconds the superblock keeps.</summary>
    public static uint Seconds(DateTimeOffset time) => Encode(time).Seconds;
}
