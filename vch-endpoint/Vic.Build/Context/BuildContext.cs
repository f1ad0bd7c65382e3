using System.Formats.Tar;
using System.IO.Compression;

namespace Vic.Build.Context;

/// <summary>
/// A build's context, unpacked into a folder of its own on the VCH: the tar the client sent (plain,
/// gzip, bzip2 or xz), with the <c>.dockerignore</c>d paths taken out. Entries that would land outside the
/// folder are refused; the folder goes when the build ends.
/// </summary>
public sealed class BuildContext : IDisposable
{
    private BuildContext(string root, DockerIgnore ignore)
    {
        Root = root;
        Ignore = ignore;
    }

    /// <summary>The unpacked context; every path a COPY names is inside it.</summary>
    public string Root { get; }

    public DockerIgnore Ignore { get; }

    /// <summary>Unpacks <paramref name="body"/> into <paramref name="folder"/> (which must not exist), refusing more than <paramref name="limitBytes"/>.</summary>
    public static async Task<BuildContext> UnpackAsync(Stream body, string folder, long limitBytes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var root = Path.GetFullPath(folder);
        try
        {
            var prefix = new byte[ArchiveCompression.MagicLength];
            var read = await body.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            await using var input = ArchiveCompression.Decompress(new Registry.PrefixedReadStream(prefix[..read], body), prefix.AsSpan(0, read));

            if (read > 0)
            {
                await UnpackTarAsync(new EndPadded(input), root, limitBytes, cancellationToken).ConfigureAwait(false);

                // Read to the end: a compressor checks its data (gzip's and bzip2's CRCs, xz's check)
                // only there, and a damaged stream can still hold a tar that reads whole. Only so far:
                // what follows a tar is its padding (tar pads to 10 KiB records), not megabytes.
                await DrainAsync(input, TrailerLimit, cancellationToken).ConfigureAwait(false);
            }

            var ignore = DockerIgnore.Read(root);
            return new BuildContext(root, ignore);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
        {
            Directory.Delete(root, recursive: true);
            throw new BuildException($"the build context is not a valid tar archive: {ex.Message}");
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    /// <summary>How much may follow a context's tar and still be read for the compressor's check.</summary>
    private const int TrailerLimit = 1 << 20;

    /// <summary>Reads and drops what is left, up to <paramref name="limit"/> bytes; more is left unread.</summary>
    private static async Task DrainAsync(Stream input, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        for (var left = limit; left > 0;)
        {
            var read = await input.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            left -= read;
        }
    }

    /// <summary>A context of one file: a remote Dockerfile (<c>remote=</c> a text URL).</summary>
    public static BuildContext FromDockerfile(string folder, string dockerfile)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "Dockerfile"), dockerfile);
        return new BuildContext(Path.GetFullPath(folder), DockerIgnore.None);
    }

    /// <summary>A context already in its folder (a git clone).</summary>
    public static BuildContext Adopt(string folder) => new(Path.GetFullPath(folder), DockerIgnore.Read(folder));

    /// <summary>The Dockerfile's text; <c>Dockerfile</c> falls back to <c>dockerfile</c>, as dockerd's does.</summary>
    public string ReadDockerfile(string name)
    {
        var path = Scoped(name);
        if (!File.Exists(path) && name == "Dockerfile" && File.Exists(Scoped("dockerfile")))
        {
            path = Scoped("dockerfile");
        }

        return File.Exists(path)
            ? File.ReadAllText(path)
            : throw new BuildException($"Cannot locate specified Dockerfile: {name}");
    }

    /// <summary>Takes what .dockerignore names out of the context (the Dockerfile is read first: it stays readable by name).</summary>
    public void ApplyIgnore()
    {
        if (!File.Exists(Path.Combine(Root, ".dockerignore")))
        {
            return;
        }

        Walk(Root, "");

        void Walk(string folder, string relative)
        {
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            {
                var path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                if (entry is DirectoryInfo directory && entry.LinkTarget is null)
                {
                    if (Ignore.Excludes(path) && !Ignore.HasExceptions)
                    {
                        directory.Delete(recursive: true);
                        continue;
                    }

                    Walk(directory.FullName, path);
                    if (Ignore.Excludes(path) && !directory.EnumerateFileSystemInfos().Any())
                    {
                        directory.Delete();
                    }
                }
                else if (Ignore.Excludes(path))
                {
                    entry.Delete();
                }
            }
        }
    }

    /// <summary>A path of the context with its symlinks followed as if the context were the root.</summary>
    private string Scoped(string relative) =>
        Path.Combine([Root, .. Interaction.ScopedPath.Resolve(relative, (path, _) => new FileInfo(Root + path).LinkTarget)]);

    /// <summary>A path of the context on the VCH; <c>..</c> cannot climb out of it.</summary>
    public string Inside(string relative)
    {
        var clean = DockerIgnore.Clean(relative);
        return clean == "." ? Root : Path.Combine(Root, clean);
    }

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    private static async Task UnpackTarAsync(Stream input, string root, long limitBytes, CancellationToken cancellationToken)
    {
        long total = 0;
        var reader = new TarReader(input);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var relative = DockerIgnore.Clean(entry.Name);
                if (entry.Name.Replace('\\', '/').Split('/').Contains(".."))
                {
                    throw new BuildException($"the build context entry {entry.Name} points outside the context");
                }

                if (relative == ".")
                {
                    continue;
                }

                var destination = Path.Combine(root, relative);
                RefuseBelowSymlink(root, relative, entry.Name);
                total += entry.Length;
                if (total > limitBytes)
                {
                    throw new BuildException($"the build context is larger than this VCH takes ({limitBytes >> 20} MiB)");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                var mode = (UnixFileMode)((int)entry.Mode & 0xFFF);
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(destination);
                        File.SetUnixFileMode(destination, mode | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.UserRead);
                        break;
                    case TarEntryType.SymbolicLink:
                        Remove(destination);
                        File.CreateSymbolicLink(destination, entry.LinkName);
                        break;
                    case TarEntryType.HardLink:
                        var source = Path.Combine(root, DockerIgnore.Clean(entry.LinkName));
                        RefuseBelowSymlink(root, DockerIgnore.Clean(entry.LinkName), entry.Name);
                        if (new FileInfo(source).LinkTarget is not null || !File.Exists(source) || entry.LinkName.Replace('\\', '/').Split('/').Contains(".."))
                        {
                            throw new BuildException($"the build context entry {entry.Name} links to {entry.LinkName}, which is not in the context");
                        }

                        Remove(destination);
                        File.Copy(source, destination);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        Remove(destination);
                        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode | UnixFileMode.UserWrite | UnixFileMode.UserRead };
                        await using (var file = new FileStream(destination, options))
                        {
                            if (entry.DataStream is { } data)
                            {
                                await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                            }
                        }

                        // The owner's read and write bits were forced to read it back: the tar's mode is what COPY gives.
                        File.SetUnixFileMode(destination, mode);
                        break;
                    default:
                        // Devices and fifos in a context are not files COPY can take; Docker skips them too.
                        continue;
                }

                if (entry.EntryType != TarEntryType.SymbolicLink)
                {
                    File.SetLastWriteTimeUtc(destination, entry.ModificationTime.UtcDateTime);
                }
            }
        }
    }

    /// <summary>
    /// A tar entry that would be written through a symlink an earlier entry made (<c>a -&gt; /</c>, then
    /// <c>a/etc/x</c>) would land outside the context: no tar a client makes has one, so it is refused.
    /// </summary>
    private static void RefuseBelowSymlink(string root, string relative, string name)
    {
        var path = root;
        var parts = relative.Split('/');
        foreach (var part in parts[..^1])
        {
            path = Path.Combine(path, part);
            if (new FileInfo(path).LinkTarget is not null)
            {
                throw new BuildException($"the build context entry {name} is below a symlink: it would point outside the context");
            }
        }
    }

    private static void Remove(string path)
    {
        if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null)
        {
            Directory.Delete(path, recursive: true);
        }
        else if (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            File.Delete(path);
        }
    }
}

/// <summary>
/// A tar that may stop short: the docker CLI's context for <c>-f -</c> ends right after the last
/// file's bytes, without the padding and the end-of-archive blocks (Go's reader takes it, .NET's
/// does not). Zeros are added at the end to make it whole; a tar that has them reads the same.
/// </summary>
internal sealed class EndPadded(Stream inner) : Registry.ForwardReadStream
{
    private long _read;
    private int _padding = -1;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_padding < 0)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n > 0 || buffer.Length == 0)
            {
                _read += n;
                return n;
            }

            _padding = (int)((512 - (_read % 512)) % 512) + 1024;
        }

        var zeros = Math.Min(_padding, buffer.Length);
        buffer.Span[..zeros].Clear();
        _padding -= zeros;
        return zeros;
    }
}

/// <summary>A build the builder refuses or that failed, in words the client prints as they are.</summary>
public sealed class BuildException(string message, int code = 1) : Exception(message)
{
    /// <summary>The failing RUN's exit code (dockerd's <c>errorDetail.code</c>); 1 for anything else.</summary>
    public int Code { get; } = code;
}
