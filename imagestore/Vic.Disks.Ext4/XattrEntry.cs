namespace Vic.Disks.Ext4;

/// <summary>
/// One extended attribute as ext4 stores it: the namespace prefix becomes a name index byte and only
/// the rest of the name is kept. POSIX ACLs are whole names (index 2 and 3, empty rest) and their values
/// are converted to ext4's own ACL layout.
/// </summary>
internal sealed record XattrEntry(byte Index, byte[] Name, byte[] Value)
{
    private static readonly (string Prefix, byte Index, bool Exact)[] Prefixes =
    [
        ("system.posix_acl_access", 2, true),
        ("system.posix_acl_default", 3, true),
        ("user.", 1, false),
        ("trusted.", 4, false),
        ("security.", 6, false),
    ];

    public static bool IsSupported(string name) => Find(name) is not null;

    public static XattrEntry Create(string name, byte[] value)
    {
        var (prefix, index, exact) = Find(name)
            ?? throw new ArgumentException($"extended attribute '{name}' is not in a namespace ext4 stores (user., trusted., security., system.posix_acl_*)", nameof(name));
        var rest = Tree.ImagePath.Utf8.GetBytes(name[prefix.Length..]);
        if (!exact && rest.Length == 0)
        {
            throw new ArgumentException($"extended attribute '{name}' has an empty name", nameof(name));
        }

        if (rest.Length > 255)
        {
            throw new ArgumentException($"extended attribute name '{name}' is longer than 255 bytes", nameof(name));
        }

        return new XattrEntry(index, rest, exact ? PosixAcl.ToDisk(value) : value);
    }

    /// <summary>The kernel keeps xattr blocks sorted by index, then name length, then name.</summary>
    public static int Compare(XattrEntry? left, XattrEntry? right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        var order = left.Index.CompareTo(right.Index);
        if (order == 0)
        {
            order = left.Name.Length.CompareTo(right.Name.Length);
        }

        return order != 0 ? order : left.Name.AsSpan().SequenceCompareTo(right.Name);
    }

    private static (string Prefix, byte Index, bool Exact)? Find(string name)
    {
        foreach (var candidate in Prefixes)
        {
            if (candidate.Exact ? name == candidate.Prefix : name.StartsWith(candidate.Prefix, StringComparison.Ordinal))
            {
                return candidate;
            }
        }

        return null;
    }
}
