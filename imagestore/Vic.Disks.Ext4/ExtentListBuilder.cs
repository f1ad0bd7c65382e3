namespace Vic.Disks.Ext4;

/// <summary>Collects runs of blocks in file order, merging neighbours into the fewest extents.</summary>
internal sealed class ExtentListBuilder
{
    private readonly List<Extent> _extents = [];

    public IReadOnlyList<Extent> Extents => _extents;

    public long BlockCount { get; private set; }

    public void Add(long logical, long physical, int count)
    {
        BlockCount += count;
        while (count > 0)
        {
            if (_extents.Count > 0)
            {
                var last = _extents[^1];
                if (last.Logical + (long)last.Length == logical && last.Physical + last.Length == physical && last.Length < Extent.MaxLength)
                {
                    var grow = Math.Min(count, Extent.MaxLength - last.Length);
                    _extents[^1] = last with { Length = last.Length + grow };
                    (logical, physical, count) = (logical + grow, physical + grow, count - grow);
                    continue;
                }
            }

            var length = Math.Min(count, Extent.MaxLength);
            _extents.Add(new Extent(checked((uint)logical), physical, length));
            (logical, physical, count) = (logical + length, physical + length, count - length);
        }
    }
}
