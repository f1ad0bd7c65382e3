namespace Vic.Disks.Vmdk.Tests;

/// <summary>One write to a disk: where, and what.</summary>
internal sealed record DiskWrite(long Offset, byte[] Data);

/// <summary>
/// A disk's worth of writes, applied alike to a raw image (the reference) and to the writer under
/// test; random data in places, compressible text in others, zeros elsewhere.
/// </summary>
internal sealed class TestDisk(long capacity, int seed)
{
    private readonly Random _random = new(seed);
    private readonly List<DiskWrite> _writes = [];

    public const int Grain = 64 * 1024;

    public long Capacity => capacity;

    public IReadOnlyList<DiskWrite> Writes => _writes;

    public TestDisk Random(long offset, int count)
    {
        var data = new byte[count];
        _random.NextBytes(data);
        return Add(offset, data);
    }

    public TestDisk Text(long offset, int count)
    {
        var data = new byte[count];
        for (var i = 0; i < count; i++)
        {
            data[i] = (byte)"the quick brown fox jumps over the lazy dog\n"[(i + _random.Next(3)) % 44];
        }

        return Add(offset, data);
    }

    public TestDisk Zeros(long offset, int count) => Add(offset, new byte[count]);

    public TestDisk Add(long offset, byte[] data)
    {
        _writes.Add(new DiskWrite(offset, data));
        return this;
    }

    /// <summary>Writes the raw reference image: a sparse file of exactly the capacity.</summary>
    public void WriteRaw(string path)
    {
        using var raw = new FileStream(path, FileMode.Create, FileAccess.Write);
        raw.SetLength(capacity);
        ApplyTo(raw);
    }

    public void ApplyTo(Stream disk)
    {
        foreach (var write in _writes)
        {
            disk.Position = write.Offset;
            disk.Write(write.Data);
        }
    }

    /// <summary>The disk of the tests that must exercise everything: see the comments.</summary>
    public static TestDisk Mixed(int seed = 1)
    {
        const long MiB = 1024 * 1024;

        // Not a whole number of grains: the last grain is three sectors long.
        return new TestDisk((100 * MiB) + 1536, seed)
            .Random(0, (int)(3 * MiB))                       // data written sequentially first...
            .Text(3 * MiB, 300 * 1024)                       // ...some of it compressible...
            .Random((100 * MiB) + 1536 - 5632, 5632)         // ...then metadata at the very end,
            .Random((40 * MiB) + 12345, 200 * 1024)          // out of order and unaligned,
            .Random((32 * MiB) - 1000, 3000)                 // across a grain table boundary,
            .Random(MiB + 7, 10000)                          // overwriting allocated grains,
            .Zeros(2 * MiB, Grain)                           // zeroing a whole allocated grain,
            .Zeros(60 * MiB, (int)MiB)                       // zeros where nothing was: no grains,
            .Add((70 * MiB) + 3, [0xAB])                     // one byte in a grain,
            .Random((80 * MiB) + (15 * 512), 512)            // small writes, descending,
            .Random((80 * MiB) + (9 * 512), 512)
            .Random((80 * MiB) + (2 * 512), 512)
            .Text((50 * MiB) + 100, 3 * Grain)               // and a rewrite of the middle of
            .Random((50 * MiB) + Grain + 17, 100);           // an earlier write.
    }

    public static void AssertSameBytes(string expectedPath, string actualPath)
    {
        using var expected = File.OpenRead(expectedPath);
        using var actual = File.OpenRead(actualPath);
        AssertSameBytes(expected, actual);
    }

    public static void AssertSameBytes(Stream expected, Stream actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var a = new byte[1024 * 1024];
        var b = new byte[a.Length];
        for (long offset = 0; offset < expected.Length; offset += a.Length)
        {
            var count = (int)Math.Min(a.Length, expected.Length - offset);
            expected.ReadExactly(a, 0, count);
            actual.ReadExactly(b, 0, count);
            if (!a.AsSpan(0, count).SequenceEqual(b.AsSpan(0, count)))
            {
                var at = a.AsSpan(0, count).CommonPrefixLength(b.AsSpan(0, count));
                Assert.Fail($"the disks differ at byte {offset + at}");
            }
        }
    }
}
