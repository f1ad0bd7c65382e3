using System.Formats.Tar;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>Where the container's files are: the merged root and, in a VM, the overlay's writable upper and read-only lower directories.</summary>
internal sealed record RootLayout(string Root, string? Upper, IReadOnlyList<string> Lowers)
{
    /// <summary>How long the root's making waited for its disks to appear.</summary>
    public TimeSpan DiskWait { get; init; }

    /// <summary>How long each step of making the root took, for the start's timings.</summary>
    public string? Steps { get; init; }
}

/// <summary>
/// The container's files for docker cp, export, diff and commit, as tar streams. Paths resolve
/// inside the container's root: symlinks are followed as the container would see them, and nothing
/// a request names or a tar entry holds can reach outside it.
/// </summary>
internal static class GuestFiles
{
    private const uint TypeDirectory = 0x4000;
    private const uint TypeSymlink = 0xA000;
    private const uint TypeCharDevice = 0x2000;
    private const uint TypeBlockDevice = 0x6000;
    private const uint TypeFifo = 0x1000;
    private const uint TypeSocket = 0xC000;

    /// <summary>Files the tether writes into every root: Docker bind-mounts them, so they are never a change.</summary>
    private static readonly HashSet<string> Identity = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

    /// <summary>Mount points whose contents belong to the kernel, not the container.</summary>
    private static readonly HashSet<string> Virtual = ["/proc", "/sys", "/dev"];

    public static PathStat Stat(RootLayout layout, string path)
    {
        var full = Resolve(layout.Root, path, followLast: path.EndsWith("/.", StringComparison.Ordinal));
        if (Native.lstat(full, out var stat) != 0)
        {
            throw new FileNotFoundException($"Could not find the file {path} in container");
        }

        var name = Path.GetFileName(full.TrimEnd('/'));
        var link = stat.Type == TypeSymlink ? new FileInfo(full).LinkTarget ?? "" : "";
        return new PathStat(name.Length > 0 ? name : "/", stat.Size, GoMode(stat.Mode), DateTimeOffset.FromUnixTimeSeconds(stat.MtimeSeconds), link) { Uid = stat.Uid, Gid = stat.Gid };
    }

    /// <summary>The path as a tar whose top entry is its base name, as GET /containers/{id}/archive gives it.</summary>
    public static void Get(RootLayout layout, string path, Stream output)
    {
        var full = Resolve(layout.Root, path, followLast: path.EndsWith("/.", StringComparison.Ordinal));
        if (Native.lstat(full, out _) != 0)
        {
            throw new FileNotFoundException($"Could not find the file {path} in container");
        }

        using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        var name = Path.GetFileName(full.TrimEnd('/'));
        Add(tar, full, name.Length > 0 ? name : ".", skip: _ => false);
    }

    /// <summary>The whole root filesystem (docker export), without what the kernel mounts in it.</summary>
    public static void Export(RootLayout layout, Stream output)
    {
        using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        var links = new Dictionary<(ulong, ulong), string>();
        foreach (var entry in new DirectoryInfo(layout.Root).EnumerateFileSystemInfos())
        {
            var inside = "/" + entry.Name;
            if (Virtual.Contains(inside))
            {
                tar.WriteEntry(entry.FullName, entry.Name);
                continue;
            }

            Add(tar, entry.FullName, entry.Name, skip: _ => false, links: links);
        }
    }

    /// <summary>Unpacks a tar into the directory at <paramref name="path"/> (docker cp into a container).</summary>
    public static void Put(RootLayout layout, FilesRequest request, Stream input)
    {
        var path = request.Path;
        var noOverwriteDirNonDir = request.NoOverwriteDirNonDir;
        var target = Resolve(layout.Root, path, followLast: true);
        (int Uid, int Gid)? owner = request.Owner is { Length: > 0 } named ? CopyOwner(named, layout.Root) : null;
        if (request.MakeParents && !Directory.Exists(target) && !File.Exists(target))
        {
            MakeFolders(layout.Root, target, owner);
        }

        if (!Directory.Exists(target))
        {
            throw File.Exists(target)
                ? new InvalidOperationException($"extraction point is not a directory: {path}")
                : new FileNotFoundException($"Could not find the file {path} in container");
        }

        using var tar = new TarReader(input, leaveOpen: true);
        while (tar.GetNextEntry() is { } entry)
        {
            var relative = entry.Name.Replace('\\', '/').TrimStart('/');
            if (relative.Length == 0 || relative == "." || relative.Split('/').Contains(".."))
            {
                continue;
            }

            var destination = Path.GetFullPath(Path.Combine(target, relative));
            if (!destination.StartsWith(layout.Root.TrimEnd('/') + "/", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"the archive entry {entry.Name} points outside the container");
            }

            if (noOverwriteDirNonDir && Native.lstat(destination, out var existing) == 0)
            {
                var existingIsDirectory = existing.Type == TypeDirectory;
                if (existingIsDirectory != (entry.EntryType == TarEntryType.Directory))
                {
                    throw new InvalidOperationException($"cannot overwrite {(existingIsDirectory ? "directory" : "non-directory")} \"{destination[layout.Root.TrimEnd('/').Length..]}\" with {(existingIsDirectory ? "non-directory" : "directory")}");
                }
            }

            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            if (entry.EntryType is TarEntryType.HardLink)
            {
                var source = Path.GetFullPath(Path.Combine(target, entry.LinkName.TrimStart('/')));
                if (!source.StartsWith(layout.Root.TrimEnd('/') + "/", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"the archive entry {entry.Name} links outside the container");
                }

                File.Delete(destination);
                Native.Check(Native.link(source, destination), $"link {entry.Name}");
                continue;
            }

            if (entry.EntryType is TarEntryType.Directory)
            {
                Directory.CreateDirectory(destination);
                File.SetUnixFileMode(destination, (UnixFileMode)(entry.Mode & (UnixFileMode)0xFFF));
                if (owner is { } folderOwner)
                {
                    Native.Check(Native.lchown(destination, folderOwner.Uid, folderOwner.Gid), $"chown {entry.Name}");
                }

                continue;
            }

            if (entry.EntryType is TarEntryType.SymbolicLink && (File.Exists(destination) || Directory.Exists(destination) || new FileInfo(destination).LinkTarget is not null))
            {
                File.Delete(destination);
            }

            entry.ExtractToFile(destination, overwrite: true);
            if (owner is { } fileOwner)
            {
                Native.Check(Native.lchown(destination, fileOwner.Uid, fileOwner.Gid), $"chown {entry.Name}");
            }

            if (entry.EntryType is not TarEntryType.SymbolicLink && (entry.Mode & (UnixFileMode)0xE00) != 0)
            {
                // The umask and a chown both drop setuid, setgid and sticky bits: put them back as the tar says.
                File.SetUnixFileMode(destination, (UnixFileMode)(entry.Mode & (UnixFileMode)0xFFF));
            }
        }
    }

    /// <summary>COPY --chown's owner: a user alone means the group of the same name (or number), as moby's parseChownFlag has it.</summary>
    private static (int Uid, int Gid) CopyOwner(string owner, string root)
    {
        var identity = UserResolver.Resolve(owner.Contains(':', StringComparison.Ordinal) ? owner : $"{owner}:{owner}", root);
        return (identity.Uid, identity.Gid);
    }

    /// <summary>Makes a folder resolved inside the root (no symlink left in what is missing), owned as asked.</summary>
    private static void MakeFolders(string root, string target, (int Uid, int Gid)? owner)
    {
        var missing = new Stack<string>();
        for (var folder = target; !Directory.Exists(folder) && folder.Length > root.TrimEnd('/').Length; folder = Path.GetDirectoryName(folder)!)
        {
            missing.Push(folder);
        }

        while (missing.TryPop(out var folder))
        {
            Directory.CreateDirectory(folder);
            File.SetUnixFileMode(folder, (UnixFileMode)0x1ED);
            if (owner is { } o)
            {
                Native.Check(Native.lchown(folder, o.Uid, o.Gid), $"chown {folder[root.TrimEnd('/').Length..]}");
            }
        }
    }

    /// <summary>What the container changed, from its overlay's upper directory (docker diff).</summary>
    public static ChangeList Changes(RootLayout layout)
    {
        var upper = layout.Upper ?? throw new InvalidOperationException("this container has no writable layer to compare");
        var changes = new List<FileChange>();
        Walk(upper, "");
        return new ChangeList(changes);

        // Returns whether anything under the path counts as a change.
        bool Walk(string directory, string inside)
        {
            var any = false;
            foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var path = $"{inside}/{entry.Name}";
                if (Identity.Contains(path))
                {
                    continue;
                }

                Native.lstat(entry.FullName, out var stat);
                if (stat.Type == TypeCharDevice && stat.Rdev == 0)
                {
                    changes.Add(new FileChange(path, 2));
                    any = true;
                    continue;
                }

                var inLower = layout.Lowers.Any(l => Native.lstat(l + path, out _) == 0);
                var at = changes.Count;
                var below = stat.Type == TypeDirectory && Walk(entry.FullName, path);
                if (stat.Type == TypeDirectory && inLower && !below && !IsOpaque(entry.FullName))
                {
                    // A directory copied up only for the identity files beneath it.
                    continue;
                }

                changes.Insert(at, new FileChange(path, inLower ? 0 : 1));
                any = true;
            }

            return any;
        }
    }

    /// <summary>The writable layer as an image layer tar: whiteouts and opaque directories in Docker's .wh. form.</summary>
    public static void Commit(RootLayout layout, Stream output)
    {
        var upper = layout.Upper ?? throw new InvalidOperationException("this container has no writable layer to commit");
        using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        var links = new Dictionary<(ulong, ulong), string>();
        foreach (var entry in new DirectoryInfo(upper).EnumerateFileSystemInfos())
        {
            Add(tar, entry.FullName, entry.Name, skip: inside => Identity.Contains("/" + inside), whiteouts: true, links: links);
        }
    }

    private static void Add(TarWriter tar, string full, string name, Func<string, bool> skip, bool whiteouts = false, Dictionary<(ulong, ulong), string>? links = null)
    {
        if (skip(name) || Native.lstat(full, out var stat) != 0)
        {
            return;
        }

        // Hard links stay links (busybox is one binary under hundreds of names), not copies.
        links ??= [];
        if (stat.Type != TypeDirectory && stat.Links > 1)
        {
            if (links.TryGetValue((stat.Device, stat.Inode), out var first))
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = first });
                return;
            }

            links[(stat.Device, stat.Inode)] = name;
        }

        if (whiteouts && stat.Type == TypeCharDevice && stat.Rdev == 0)
        {
            var slash = name.LastIndexOf('/');
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"{name[..(slash + 1)]}.wh.{name[(slash + 1)..]}"));
            return;
        }

        tar.WriteEntry(full, name);
        if (stat.Type != TypeDirectory)
        {
            return;
        }

        if (whiteouts && IsOpaque(full))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"{name}/.wh..wh..opq"));
        }

        foreach (var child in new DirectoryInfo(full).EnumerateFileSystemInfos())
        {
            Add(tar, child.FullName, $"{name}/{child.Name}", skip, whiteouts, links);
        }
    }

    private static unsafe bool IsOpaque(string directory)
    {
        byte value;
        return Native.lgetxattr(directory, "trusted.overlay.opaque", &value, 1) == 1 && value == (byte)'y';
    }

    /// <summary>
    /// The host path of a container path: each symlink on the way is followed as inside the
    /// container (an absolute target starts again at the container's root), the last one only if asked.
    /// </summary>
    private static string Resolve(string root, string path, bool followLast)
    {
        root = root.TrimEnd('/');
        var parts = ScopedPath.Resolve(path, (candidate, last) =>
            (!last || followLast) && Native.lstat(root + candidate, out var stat) == 0 && stat.Type == TypeSymlink ? new FileInfo(root + candidate).LinkTarget ?? "" : null);
        return root + "/" + string.Join('/', parts);
    }

    /// <summary>Go's os.FileMode: permission bits plus type and special bits in the high bits.</summary>
    private static uint GoMode(uint mode)
    {
        var go = mode & 0x1FF;
        go |= (mode & 0x800) != 0 ? 1u << 23 : 0;
        go |= (mode & 0x400) != 0 ? 1u << 22 : 0;
        go |= (mode & 0x200) != 0 ? 1u << 20 : 0;
        go |= (mode & 0xF000) switch
        {
            TypeDirectory => 1u << 31,
            TypeSymlink => 1u << 27,
            TypeFifo => 1u << 25,
            TypeSocket => 1u << 24,
            TypeBlockDevice => 1u << 26,
            TypeCharDevice => (1u << 26) | (1u << 21),
            _ => 0,
        };
        return go;
    }
}
