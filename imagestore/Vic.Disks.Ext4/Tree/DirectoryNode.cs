namespace Vic.Disks.Ext4.Tree;

/// <summary>A directory: its entries by name, and its parent for ".." (none for the root).</summary>
internal sealed class DirectoryNode(Ext4Metadata metadata) : Node(metadata)
{
    public DirectoryNode? Parent { get; set; }

    public Dictionary<string, Node> Children { get; } = new(StringComparer.Ordinal);

    public override ushort TypeBits => 0x4000;

    public override byte DirectoryEntryType => 2;

    /// <summary>Entries in byte order of their names, so the same input gives the same image.</summary>
    public List<KeyValuePair<string, Node>> SortedChildren()
    {
        var sorted = Children.ToList();
        sorted.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return sorted;
    }
}
