namespace Vic.Disks.Ext4;

/// <summary>
/// Hands out data blocks strictly in ascending order, skipping each group's metadata, so the image is
/// written front to back as content streams in. Blocks given back (removed or replaced files) are only
/// remembered for the bitmaps, never reused: a layer rarely deletes what it just wrote.
/// </summary>
internal sealed class BlockAllocator(Ext4Layout layout)
{
    private readonly List<Extent> _freed = [];
    private long _next = layout.DataStart(0);

    /// <summary>The first block never handed out; every data block below it is in use unless freed.</summary>
    public long Next => _next;

    public IReadOnlyList<Extent> Freed => _freed;

    /// <summary>Up to <paramref name="wanted"/> contiguous blocks (fewer at the end of a group).</summary>
    public (long Start, int Count) Allocate(int wanted)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wanted, 1);
        if (_next >= layout.BlockCount)
        {
            throw new Ext4FullException(
                $"the ext4 image is full: its {layout.BlockCount} blocks of {Ext4Layout.BlockSize} bytes are used up");
        }

        var group = layout.GroupOfBlock(_next);
        var end = layout.GroupEnd(group);
        var count = (int)Math.Min(wanted, end - _next);
        var start = _next;
        _next += count;
        if (_next == end)
        {
            _next = group + 1 < layout.GroupCount ? layout.DataStart(group + 1) : layout.BlockCount;
        }

        return (start, count);
    }

    public void Free(IEnumerable<Extent> extents) => _freed.AddRange(extents);
}
