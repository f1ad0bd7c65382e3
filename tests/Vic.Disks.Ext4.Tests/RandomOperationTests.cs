namespace Vic.Disks.Ext4.Tests;

/// <summary>
/// Random mixes of every operation (replacements, removals of subtrees, hard links, spilled xattrs,
/// sparse files, extreme ids, times and device numbers) must always give an image e2fsck finds clean.
/// Fixed seeds, so a failure reproduces.
/// </summary>
public sealed class RandomOperationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task AnyMixOfOperationsMakesACleanImage(int seed)
    {
        var random = new Random(seed);
        var added = new List<string>();
        using var image = Ext4Image.Build(512L << 20, writer =>
        {
            for (var i = 0; i < 1500; i++)
            {
                var path = added.Count > 0 && random.Next(4) == 0 ? added[random.Next(added.Count)] : RandomPath(random);
                try
                {
                    Apply(writer, random, path, added);
                    added.Add(path);
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException or FileNotFoundException)
                {
                    // A path through a file, a link to a directory: refused without harm.
                }
            }
        });

        await image.AssertCleanAsync();
        Assert.True(added.Count > 500, $"only {added.Count} operations were accepted");
    }

    private static void Apply(Ext4Writer writer, Random random, string path, List<string> added)
    {
        switch (random.Next(10))
        {
            case 0:
                writer.AddDirectory(path, RandomMetadata(random));
                break;
            case 1 or 2 or 3:
                var length = random.Next(3) == 0 ? random.Next(1 << 20) : random.Next(20_000);
                var holes = random.Next(1, 5);
                writer.AddFile(path, RandomMetadata(random), new PatternStream(length, block => block % holes == 1), length);
                break;
            case 4:
                writer.AddSymlink(path, new string('t', random.Next(1, 300)), RandomMetadata(random));
                break;
            case 5 when added.Count > 0:
                writer.AddHardLink(path, added[random.Next(added.Count)]);
                break;
            case 6:
                var kind = random.Next(2) == 0 ? Ext4DeviceKind.Character : Ext4DeviceKind.Block;
                writer.AddDevice(path, kind, random.Next(4096), random.Next(1 << 20), RandomMetadata(random));
                break;
            case 7:
                writer.AddFifo(path, RandomMetadata(random));
                break;
            case 8:
                writer.Remove(path);
                break;
            default:
                writer.AddSocket(path, RandomMetadata(random));
                break;
        }
    }

    private static string RandomPath(Random random) =>
        "/" + string.Join('/', Enumerable.Range(0, random.Next(1, 5)).Select(_ => "n" + random.Next(8)));

    private static Ext4Metadata RandomMetadata(Random random)
    {
        var time = DateTimeOffset.FromUnixTimeSeconds(random.NextInt64(int.MinValue, 1L << 33)).AddTicks(random.Next(10_000_000));
        var xattrs = random.Next(4) switch
        {
            0 => new Dictionary<string, byte[]> { ["user.a"] = new byte[random.Next(200)], ["security.capability"] = new byte[20] },
            1 => new Dictionary<string, byte[]> { ["trusted.overlay.opaque"] = "y"u8.ToArray(), ["user.big"] = new byte[random.Next(2000)] },
            _ => null,
        };
        return new Ext4Metadata(random.Next(4096), random.Next(), random.Next(70000), time, xattrs);
    }
}
