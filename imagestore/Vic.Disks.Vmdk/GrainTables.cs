namespace Vic.Disks.Vmdk;

/// <summary>
/// Grain table entries (grain index -> sector of the grain in the file, 0 = unallocated), held
/// only for the tables that have an entry, so memory follows the allocated data, not the capacity.
/// </summary>
internal sealed class GrainTables(long grainCount, int entriesPerTable)
{
    private readonly Dictionary<int, uint[]> _tables = [];

    public long GrainCount => grainCount;

    public int EntriesPerTable => entriesPerTable;

    public int TableCount => (int)VmdkFormat.DivRoundUp(grainCount, entriesPerTable);

    /// <summary>Indexes of the tables that hold at least one entry, ascending.</summary>
    public IEnumerable<int> TableIndexes => _tables.Keys.Order();

    public uint Get(long grain) =>
        _tables.TryGetValue((int)(grain / entriesPerTable), out var table) ? table[grain % entriesPerTable] : 0;

    public void Set(long grain, uint sector)
    {
        var index = (int)(grain / entriesPerTable);
        if (!_tables.TryGetValue(index, out var table))
        {
            table = new uint[entriesPerTable];
            _tables.Add(index, table);
        }

        table[grain % entriesPerTable] = sector;
    }

    public uint[]? GetTable(int index) => _tables.GetValueOrDefault(index);

    public void SetTable(int index, uint[] entries) => _tables[index] = entries;
}
