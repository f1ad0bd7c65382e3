namespace Vic.Disks.Ext4.Tree;

/// <summary>
/// The image's namespace while it is being built: resolves paths, creates missing parents, replaces
/// and removes entries the way a layer's tar stream does, and keeps count of live inodes so running
/// out fails at the entry that overflows rather than at completion.
/// </summary>
internal sealed class FileTree
{
    /// <summary>ext4's limit on i_links_count for non-directories.</summary>
    private const int MaxLinks = 65000;

    private readonly long _maxNodes;
    private readonly Func<Ext4Metadata> _implicitDirectory;
    private readonly Action<FileNode> _release;
    private long _liveNodes;

    /// <param name="maxNodes">Inodes available to the root and every entry.</param>
    /// <param name="implicitDirectory">Metadata for parents that were never added.</param>
    /// <param name="release">Called when a file's last link goes, to give back its blocks.</param>
    public FileTree(long maxNodes, Func<Ext4Metadata> implicitDirectory, Action<FileNode> release)
    {
        _maxNodes = maxNodes;
        _implicitDirectory = implicitDirectory;
        _release = release;
        Root = new DirectoryNode(implicitDirectory()) { Links = 1 };
        _liveNodes = 1;
    }

    public DirectoryNode Root { get; }

    /// <summary>The parent directory of <paramref name="names"/>, creating missing ones.</summary>
    public DirectoryNode ParentOf(string[] names, string path)
    {
        var directory = Root;
        foreach (var name in names.AsSpan(0, names.Length - 1))
        {
            if (!directory.Children.TryGetValue(name, out var child))
            {
                var created = new DirectoryNode(_implicitDirectory());
                Attach(directory, name, created);
                child = created;
            }

            directory = child as DirectoryNode
                ?? throw new InvalidOperationException($"cannot add '{path}': '{name}' is not a directory");
        }

        return directory;
    }

    public Node? Find(string[] names)
    {
        Node node = Root;
        foreach (var name in names)
        {
            if (node is not DirectoryNode directory || !directory.Children.TryGetValue(name, out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    /// <summary>Fails before a file's content is written if there is no inode left for it.</summary>
    public void EnsureInodeAvailable()
    {
        if (_liveNodes >= _maxNodes)
        {
            throw new Ext4FullException($"the ext4 image has no free inodes: all {_maxNodes} are used");
        }
    }

    /// <summary>Names <paramref name="node"/> in <paramref name="directory"/>; a new node takes an inode.</summary>
    public void Attach(DirectoryNode directory, string name, Node node)
    {
        if (node.Links == 0)
        {
            EnsureInodeAvailable();
            _liveNodes++;
        }
        else if (node.Links >= MaxLinks)
        {
            throw new InvalidOperationException($"cannot link '{name}': it already has {MaxLinks} links");
        }

        node.Links++;
        directory.Children.Add(name, node);
        if (node is DirectoryNode child)
        {
            child.Parent = directory;
        }
    }

    /// <summary>Removes one entry; a node whose last link goes is gone with its subtree and blocks.</summary>
    public void Detach(DirectoryNode directory, string name)
    {
        var pending = new Stack<Node>();
        pending.Push(directory.Children[name]);
        directory.Children.Remove(name);
        while (pending.TryPop(out var node))
        {
            if (--node.Links > 0)
            {
                continue;
            }

            _liveNodes--;
            switch (node)
            {
                case DirectoryNode gone:
                    foreach (var child in gone.Children.Values)
                    {
                        pending.Push(child);
                    }

                    gone.Children.Clear();
                    break;
                case FileNode file:
                    _release(file);
                    break;
            }
        }
    }
}
