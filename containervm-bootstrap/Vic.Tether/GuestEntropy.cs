namespace Vic.Tether;

/// <summary>
/// Gives the kernel's random generator a seed of the container's own. Every instant clone of a
/// template wakes with the template's generator state, so until the kernel next reseeds (a second or
/// more later) each clone would read the same "random" bytes; the endpoint's seed, credited and
/// followed by an immediate reseed, makes them differ before the container's first process runs.
/// </summary>
internal static class GuestEntropy
{
    /// <summary>RNDADDENTROPY: _IOW('R', 0x03, int[2]); adds bytes and credits them as entropy.</summary>
    private const uint AddEntropy = 0x40085203;

    /// <summary>RNDRESEEDCRNG: _IO('R', 0x07); reseeds the generator from the pool now.</summary>
    private const uint ReseedCrng = 0x5207;

    public static unsafe void Seed(string? seedBase64)
    {
        if (string.IsNullOrEmpty(seedBase64))
        {
            return;
        }

        var seed = Convert.FromBase64String(seedBase64);

        // struct rand_pool_info { int entropy_count (bits); int buf_size (bytes); u32 buf[]; }
        var info = new byte[8 + ((seed.Length + 3) & ~3)];
        BitConverter.TryWriteBytes(info.AsSpan(0, 4), seed.Length * 8);
        BitConverter.TryWriteBytes(info.AsSpan(4, 4), seed.Length);
        seed.CopyTo(info, 8);

        using var random = File.OpenHandle("/dev/urandom", FileMode.Open, FileAccess.Write);
        var fd = (int)random.DangerousGetHandle();
        fixed (byte* pointer = info)
        {
            Native.Check(Native.ioctl(fd, AddEntropy, pointer), "add the container's entropy seed");
        }

        Native.Check(Native.ioctl(fd, ReseedCrng, null), "reseed the kernel's random generator");
    }
}
