using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Vic.Build.Context;

namespace Vic.Build.Steps;

/// <summary>One thing a COPY or ADD puts into the image: a file, a folder's contents, or an archive's contents (ADD).</summary>
internal sealed record CopySource(string HostPath, string Written, CopySourceKind Kind);

internal enum CopySourceKind
{
    File,
    FolderContents,
    ArchiveContents,
}

/// <summary>
/// The sources of a COPY or ADD, found in a folder on the VCH (the build context, or what was taken
/// out of another stage's image), with Docker's rules: wildcards, folders copied by their contents,
/// nothing outside the folder, and a checksum of everything copied for the build cache.
/// </summary>
internal static class CopySources
{
    public static IReadOnlyList<CopySource> Find(string root, IReadOnlyList<string> patterns, bool extractArchives, string instruction)
    {
        var found = new List<CopySource>();
        foreach (var pattern in patterns)
        {
            var relative = Relative(pattern, instruction);
            if (relative.IndexOfAny(['*', '?', '[']) >= 0)
            {
                var regex = DockerIgnore.Compile(relative);
                var matches = Walk(root, "").Where(p => regex.IsMatch(p)).Order(StringComparer.Ordinal).ToList();
                found.AddRange(matches.Select(m => Source(root, m, extractArchives, instruction)));
                continue;
            }

            found.Add(Source(root, relative, extractArchives, instruction));
        }

        if (found.Count == 0)
        {
            throw new BuildException($"{instruction} failed: no source files were specified");
        }

        return found;
    }

    /// <summary>A digest of names, modes, link targets and contents: equal only when the step would copy the same things.</summary>
    public static string Checksum(IReadOnlyList<CopySource> sources)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var source in sources)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{source.Kind}:{source.Written}\0"));
            foreach (var (path, name) in Entries(source))
            {
                var info = new FileInfo(path);
                var mode = (int)File.GetUnixFileMode(path);
                hash.AppendData(Encoding.UTF8.GetBytes($"{name}\0{mode}\0{info.LinkTarget}\0{(Directory.Exists(path) ? "d" : info.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))}\0"));
                if (info.LinkTarget is null && File.Exists(path))
                {
                    using var content = File.OpenRead(path);
                    hash.AppendData(SHA256.HashData(content));
                }
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Writes the tar of one source, its entries named below the folder they land in (a file alone
    /// is named <paramref name="fileName"/>); <paramref name="chmod"/> replaces every entry's mode.
    /// </summary>
    public static async Task WriteTarAsync(CopySource source, string fileName, UnixFileMode? chmod, TarWriter writer, CancellationToken cancellationToken, string prefix = "", (int Uid, int Gid) owner = default)
    {
        {
            if (source.Kind == CopySourceKind.ArchiveContents)
            {
                await CopyArchiveAsync(source.HostPath, writer, prefix, cancellationToken).ConfigureAwait(false);
                return;
            }

            var entries = source.Kind == CopySourceKind.File ? [(source.HostPath, fileName)] : Entries(source);
            foreach (var (path, name) in entries)
            {
                var info = new FileInfo(path);
                PaxTarEntry entry;
                if (info.LinkTarget is { } target)
                {
                    entry = new PaxTarEntry(TarEntryType.SymbolicLink, prefix + name) { LinkName = target };
                }
                else if (Directory.Exists(path))
                {
                    entry = new PaxTarEntry(TarEntryType.Directory, prefix + name + "/");
                }
                else
                {
                    entry = new PaxTarEntry(TarEntryType.RegularFile, prefix + name) { DataStream = File.OpenRead(path) };
                }

                entry.Mode = info.LinkTarget is not null ? (UnixFileMode)0x1FF : chmod ?? File.GetUnixFileMode(path);
                entry.ModificationTime = info.LinkTarget is null ? File.GetLastWriteTimeUtc(path) : DateTimeOffset.UnixEpoch;
                entry.Uid = owner.Uid;
                entry.Gid = owner.Gid;
                await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                if (entry.DataStream is { } data)
                {
                    await data.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Whether a file is a tar (plain, gzip, bzip2 or xz) that ADD unpacks rather than copies.</summary>
    public static bool IsArchive(string path)
    {
        using var file = File.OpenRead(path);
        var head = new byte[Context.ArchiveCompression.MagicLength];
        var got = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (got < 2)
        {
            return false;
        }

        file.Position = 0;
        using Stream tar = Context.ArchiveCompression.Decompress(file, head.AsSpan(0, got), leaveOpen: true);
        var block = new byte[512];
        try
        {
            return tar.ReadAtLeast(block, 512, throwOnEndOfStream: false) == 512 && Encoding.ASCII.GetString(block, 257, 5) == "ustar";
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>A source path made relative to the folder; one that climbs out of it is refused, as dockerd refuses it.</summary>
    public static string Relative(string path, string instruction)
    {
        var depth = 0;
        foreach (var part in path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            depth += part == ".." ? -1 : part == "." ? 0 : 1;
            if (depth < 0 && !path.StartsWith('/'))
            {
                throw new BuildException($"{instruction} failed: forbidden path outside the build context: {path} ()");
            }
        }

        return DockerIgnore.Clean(path);
    }

    private static CopySource Source(string root, string relative, bool extractArchives, string instruction)
    {
        var path = ResolveInside(root, relative, instruction);
        if (Directory.Exists(path))
        {
            return new CopySource(path, relative, CopySourceKind.FolderContents);
        }

        if (!File.Exists(path))
        {
            throw new BuildException($"{instruction} failed: file not found in build context or excluded by .dockerignore: stat {relative}: file does not exist");
        }

        return new CopySource(path, relative, extractArchives && IsArchive(path) ? CopySourceKind.ArchiveContents : CopySourceKind.File);
    }

    /// <summary>Follows symlinks of a source path as if the folder were the root, so none leads out of it.</summary>
    private static string ResolveInside(string root, string relative, string instruction)
    {
        try
        {
            return Path.Combine([root, .. Interaction.ScopedPath.Resolve(relative, (path, _) => new FileInfo(root + path).LinkTarget)]);
        }
        catch (IOException ex)
        {
            throw new BuildException($"{instruction} failed: {ex.Message}");
        }
    }

    private static IEnumerable<string> Walk(string root, string relative)
    {
        foreach (var entry in new DirectoryInfo(relative.Length == 0 ? root : Path.Combine(root, relative)).EnumerateFileSystemInfos())
        {
            var path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            yield return path;
            if (entry is DirectoryInfo && entry.LinkTarget is null)
            {
                foreach (var below in Walk(root, path))
                {
                    yield return below;
                }
            }
        }
    }

    /// <summary>The entries of a source, host path and the name it is written under, parents before children.</summary>
    private static IReadOnlyList<(string Path, string Name)> Entries(CopySource source)
    {
        if (source.Kind != CopySourceKind.FolderContents)
        {
            return [(source.HostPath, Path.GetFileName(source.HostPath))];
        }

        return [.. Walk(source.HostPath, "").Order(StringComparer.Ordinal).Select(p => (Path.Combine(source.HostPath, p), p))];
    }

    private static async Task CopyArchiveAsync(string archive, TarWriter writer, string prefix, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(archive);
        var head = new byte[Context.ArchiveCompression.MagicLength];
        var got = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        await using Stream input = Context.ArchiveCompression.Decompress(file, head.AsSpan(0, got));
        var reader = new TarReader(input);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var name = DockerIgnore.Clean(entry.Name);
                if (entry.Name.Replace('\\', '/').Split('/').Contains("..") || name == ".")
                {
                    continue;
                }

                var copy = entry.EntryType switch
                {
                    TarEntryType.Directory => new PaxTarEntry(TarEntryType.Directory, prefix + name + "/"),
                    TarEntryType.SymbolicLink => new PaxTarEntry(TarEntryType.SymbolicLink, prefix + name) { LinkName = entry.LinkName },
                    TarEntryType.HardLink => new PaxTarEntry(TarEntryType.HardLink, prefix + name) { LinkName = prefix + DockerIgnore.Clean(entry.LinkName) },
                    TarEntryType.RegularFile or TarEntryType.V7RegularFile => new PaxTarEntry(TarEntryType.RegularFile, prefix + name) { DataStream = entry.DataStream },
                    _ => null,
                };
                if (copy is null)
                {
                    continue;
                }

                copy.Mode = entry.Mode;
                copy.ModificationTime = entry.ModificationTime;
                copy.Uid = entry.Uid;
                copy.Gid = entry.Gid;
                await writer.WriteEntryAsync(copy, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
