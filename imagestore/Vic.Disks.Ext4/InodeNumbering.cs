using Vic.Disks.Ext4.Tree;

namespace Vic.Disks.Ext4;

/// <summary>
/// Numbers the live inodes: the root is 2, lost+found (when still there) 11, then breadth first in
/// name order from 12 (or 11) on, so each directory's entries get neighbouring inodes. Numbers below 11
/// are the reserved inodes and count as used.
/// </summary>
internal static class InodeNumbering
{
    public static List<Node> Assign(DirectoryNode root, DirectoryNode? lostFound)
    {
        var order = new List<Node> { root };
        root.InodeNumber = 2;
        var next = (uint)Ext4Layout.FirstInode;
        if (lostFound is { Links: > 0 })
        {
            lostFound.InodeNumber = next++;
            order.Add(lostFound);
        }

        var directories = new Queue<DirectoryNode>();
        directories.Enqueue(root);
        while (directories.TryDequeue(out var directory))
        {
            foreach (var (_, child) in directory.SortedChildren())
            {
                if (child.InodeNumber == 0)
                {
                    child.InodeNumber = next++;
                    order.Add(child);
                }

                if (child is DirectoryNode subdirectory)
                {
                    directories.Enqueue(subdirectory);
                }
            }
        }

        return order;
    }
}
