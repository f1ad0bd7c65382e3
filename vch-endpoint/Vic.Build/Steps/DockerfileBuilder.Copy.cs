using System.Globalization;
using System.Text.RegularExpressions;
using Vic.Build.Context;
using Vic.Build.Dockerfile;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;

namespace Vic.Build.Steps;

/// <summary>The steps that make a layer, COPY and ADD: the sources placed through a step container's files, or a layer written on the VCH.</summary>
public sealed partial class DockerfileBuilder
{
    private async Task CopyAsync(StageState stage, Instruction instruction, BuildContext context, BuildOptions options, Func<string, Task> say, CancellationToken cancellationToken)
    {
        var keyword = instruction.Keyword;
        foreach (var flag in instruction.Flags.Keys.Where(f => f is not ("from" or "chown" or "chmod" or "link") && !(keyword == "ADD" && f is "checksum" or "keep-git-dir")))
        {
            throw new BuildException($"Unknown flag: {flag}");
        }

        var words = instruction.JsonForm is { } json ? [.. json.Select(stage.Words.Word)] : stage.Words.Words(instruction.Arguments);
        if (words.Count < 2)
        {
            throw new BuildException($"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined.");
        }

        var destination = words[^1];
        var destinationIsFolder = destination.EndsWith('/') || destination is "." or ".." || destination.EndsWith("/.", StringComparison.Ordinal);
        destination = "/" + DockerIgnore.Clean(destination.StartsWith('/') ? destination : stage.WorkingFolder + "/" + destination);
        destination = destination == "/." ? "/" : destination;
        var owner = instruction.Flags.TryGetValue("chown", out var chown) ? stage.Words.Word(chown) : "";
        UnixFileMode? chmod = instruction.Flags.TryGetValue("chmod", out var mode)
            ? (UnixFileMode)(int.TryParse(stage.Words.Word(mode), NumberStyles.None, CultureInfo.InvariantCulture, out _) ? Convert.ToInt32(stage.Words.Word(mode), 8) : throw new BuildException($"invalid --chmod value {mode}: only octal modes are supported"))
            : null;

        using var work = new ScratchFolder(scratchFolder);
        var root = context.Root;
        var patterns = words.Take(words.Count - 1).ToList();
        if (instruction.Flags.TryGetValue("from", out var fromFlag))
        {
            patterns = [.. patterns.Select(DockerIgnore.Clean)];
            root = await FetchFromAsync(stage.Words.Word(fromFlag), patterns, work, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var keepGitDir = instruction.Flags.TryGetValue("keep-git-dir", out var keep) && KeepGitDir(stage.Words.Word(keep));
            (root, patterns) = await RemoteSources.GatherAsync(instruction, keyword, patterns, work, root, keepGitDir, cancellationToken).ConfigureAwait(false);
        }

        var sources = CopySources.Find(root, patterns, extractArchives: keyword == "ADD" && !instruction.Flags.ContainsKey("from"), keyword);
        if ((sources.Count > 1 || patterns.Count > 1) && !destinationIsFolder)
        {
            throw new BuildException($"When using {keyword} with more than one source file, the destination must be a directory and end with a /");
        }

        var fromText = instruction.Flags.TryGetValue("from", out var f) ? $"--from={f} " : "";
        var chownText = owner.Length > 0 ? $"--chown={owner} " : "";
        var createdBy = $"/bin/sh -c #(nop) {keyword} {fromText}{chownText}{(sources.Count == 1 ? sources[0].Kind == CopySourceKind.FolderContents ? "dir" : "file" : "multi")}:{CopySources.Checksum(sources)} in {destination}{(destinationIsFolder && destination != "/" ? "/" : "")} ";
        var key = Key("copy", createdBy, owner, chmod?.ToString() ?? "", stage.Settings.ToJsonString());
        if (await TryCacheAsync(stage, key, NoCacheNow, say).ConfigureAwait(false))
        {
            return;
        }

        string? layer;
        if (stage.ImageId is null)
        {
            layer = await ScratchLayerAsync(sources, destination, destinationIsFolder, owner, chmod, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // The layer is written here unless the tether must unpack: a --chown by name (resolved
            // against the image's own /etc/passwd), an ADD of a tar, or a folder whose tree meets a
            // symlink of the image (written here, the layer's folder would hide the link).
            var container = containers.Create(null, stage.ImageId, new Dictionary<string, string>(), StepContainer(stage, options) with { Cmd = NeverRun });
            try
            {
                layer = owner.Length == 0 || NumericOwner().IsMatch(owner)
                    ? await HostLayerAsync(container.Id, sources, destination, destinationIsFolder, NumericIds(owner), chmod, keyword, cancellationToken).ConfigureAwait(false)
                    : null;
                layer ??= await ReadLayerAsync(container.Id, async files =>
                {
                    foreach (var source in sources)
                    {
                        var (folder, name) = await PlaceAsync(files, source, destination, destinationIsFolder, cancellationToken).ConfigureAwait(false);
                        var tar = Path.Combine(work.Path, "source.tar");
                        await using (var output = File.Create(tar))
                        {
                            var writer = new System.Formats.Tar.TarWriter(output, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true);
                            await using (writer.ConfigureAwait(false))
                            {
                                await CopySources.WriteTarAsync(source, name, chmod, writer, cancellationToken).ConfigureAwait(false);
                            }
                        }

                        await using var input = File.OpenRead(tar);
                        await files.CopyInAsync(folder, input, owner, cancellationToken).ConfigureAwait(false);
                    }
                }, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await containers.RemoveAsync(container.Id, force: true, CancellationToken.None, removeVolumes: true).ConfigureAwait(false);
            }
        }

        try
        {
            await CommitAsync(stage, key, layer, createdBy, say, "", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(layer);
        }
    }

    /// <summary>
    /// COPY --from: the sources taken out of another stage's (or any) image into a folder of their
    /// own, each at its path in that image, so the patterns (relative to the image's root) match
    /// there as they would in a context; a wildcard's folder is taken whole.
    /// </summary>
    private async Task<string> FetchFromAsync(string from, IReadOnlyList<string> patterns, ScratchFolder work, CancellationToken cancellationToken)
    {
        var imageId = _stages.LastOrDefault(s => string.Equals(s.Name, from, StringComparison.OrdinalIgnoreCase))?.ImageId
            ?? (int.TryParse(from, out var index) && index >= 0 && index < _stages.Count ? _stages[index].ImageId : null)
            ?? images.Catalog.Find(from)?.Id
            ?? (await images.PullAsync(from, null, new Progress<ImageStore.Pull.PullProgress>(), cancellationToken).ConfigureAwait(false)).Id;
        var root = Directory.CreateDirectory(Path.Combine(work.Path, "from")).FullName;
        var folders = new List<string>();
        foreach (var pattern in patterns.Select(FetchedFolder).Distinct().OrderBy(p => p.Length))
        {
            if (!folders.Any(f => f == "." || pattern == f || pattern.StartsWith(f + "/", StringComparison.Ordinal)))
            {
                folders.Add(pattern);
            }
        }

        var container = containers.Create(null, imageId, new Dictionary<string, string>(), new ContainerConfig { Entrypoint = [""], Cmd = NeverRun });
        try
        {
            await containers.UseFilesAsync(container.Id, async files =>
            {
                foreach (var folder in folders)
                {
                    var tar = Path.Combine(work.Path, "from.tar");
                    await using (var output = File.Create(tar))
                    {
                        // "/." follows a last symlink: COPY --from of a link copies what it points at, under the link's name.
                        await files.GetAsync(folder == "." ? "/" : $"/{folder}/.", output, cancellationToken).ConfigureAwait(false);
                    }

                    await using var input = File.OpenRead(tar);
                    using var unpacked = await BuildContext.UnpackAsync(input, Path.Combine(work.Path, "from.unpacked"), long.MaxValue, cancellationToken).ConfigureAwait(false);
                    foreach (var entry in new DirectoryInfo(unpacked.Root).EnumerateFileSystemInfos())
                    {
                        // The tar's top entry is the path's last part (the root's is its contents).
                        var target = folder == "." ? Path.Combine(root, entry.Name) : Path.Combine(root, folder);
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        if (entry is DirectoryInfo && entry.LinkTarget is null)
                        {
                            Directory.Move(entry.FullName, target);
                        }
                        else
                        {
                            File.Move(entry.FullName, target, overwrite: true);
                        }
                    }
                }

                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (PortLayer.Errors.PortLayerException ex) when (ex.Kind == PortLayer.Errors.ErrorKind.NotFound)
        {
            throw new BuildException($"COPY failed: {ex.Message}");
        }
        finally
        {
            await containers.RemoveAsync(container.Id, force: true, CancellationToken.None, removeVolumes: true).ConfigureAwait(false);
        }

        return root;

        // A path is fetched as it is; a wildcard's, from the folder above its first wildcard.
        static string FetchedFolder(string pattern)
        {
            var wildcard = pattern.IndexOfAny(['*', '?', '[']);
            if (wildcard < 0)
            {
                return pattern;
            }

            var slash = pattern.LastIndexOf('/', wildcard);
            return slash < 0 ? "." : pattern[..slash];
        }
    }

    /// <summary>Where one source lands: a folder's contents in the destination, a file in it when it is a folder, else as it.</summary>
    private static async Task<(string Folder, string Name)> PlaceAsync(ContainerFiles? files, CopySource source, string destination, bool destinationIsFolder, CancellationToken cancellationToken)
    {
        var name = Path.GetFileName(source.HostPath);
        if (source.Kind != CopySourceKind.File || destinationIsFolder || destination == "/")
        {
            return (destination, name);
        }

        if (files is not null)
        {
            try
            {
                var stat = await files.StatAsync(destination, cancellationToken).ConfigureAwait(false);
                if ((stat.Mode & 0x80000000u) != 0)
                {
                    return (destination, name);
                }
            }
            catch (PortLayer.Errors.PortLayerException ex) when (ex.Kind == PortLayer.Errors.ErrorKind.NotFound)
            {
                // Not there yet: the file is made under the destination's name.
            }
        }

        return (Path.GetDirectoryName(destination)!, Path.GetFileName(destination));
    }

    /// <summary>A COPY onto nothing (FROM scratch): the layer is written here, its folders made 0755.</summary>
    private async Task<string> ScratchLayerAsync(IReadOnlyList<CopySource> sources, string destination, bool destinationIsFolder, string owner, UnixFileMode? chmod, CancellationToken cancellationToken)
    {
        if (owner.Length > 0 && !NumericOwner().IsMatch(owner))
        {
            throw new BuildException($"unable to convert uid/gid chown string to host mapping: can't find uid for user {owner.Split(':')[0]}: no such user");
        }

        var placements = new List<(CopySource, string, string)>();
        foreach (var source in sources)
        {
            var (folder, name) = await PlaceAsync(null, source, destination, destinationIsFolder, cancellationToken).ConfigureAwait(false);
            placements.Add((source, folder, name));
        }

        return await WriteLayerAsync(placements, new Dictionary<string, ContainerPathStat?>(), NumericIds(owner), chmod, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A COPY onto an image: the layer is written on the VCH and the files never pass through a
    /// ContainerVM. A files ContainerVM of the step container only answers what the image has on the
    /// way to each destination: where its symlinks lead (a COPY to /bin on a merged-/usr image lands
    /// in /usr/bin, not in a folder that hides the link) and each folder's mode, owner and time,
    /// which the layer repeats (overlayfs shows the upper layer's folder, so a 0755 default would
    /// change /tmp's 1777).
    /// </summary>
    private async Task<string?> HostLayerAsync(string containerId, IReadOnlyList<CopySource> sources, string destination, bool destinationIsFolder, (int Uid, int Gid) owner, UnixFileMode? chmod, string keyword, CancellationToken cancellationToken)
    {
        if (sources.Any(s => s.Kind == CopySourceKind.ArchiveContents))
        {
            return null;
        }

        var placements = new List<(CopySource, string, string)>();
        var folders = new Dictionary<string, ContainerPathStat?>(StringComparer.Ordinal);
        var meetsLink = await containers.UseFilesAsync(containerId, async files =>
        {
            foreach (var source in sources)
            {
                var (folder, name) = await PlaceAsync(files, source, destination, destinationIsFolder, cancellationToken).ConfigureAwait(false);
                var resolved = await ResolveFolderAsync(files, folder, folders, keyword, cancellationToken).ConfigureAwait(false);
                if (source.Kind == CopySourceKind.FolderContents && await TreeMeetsLinkAsync(files, source.HostPath, resolved, cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }

                placements.Add((source, resolved, name));
            }

            return false;
        }, cancellationToken).ConfigureAwait(false);
        return meetsLink ? null : await WriteLayerAsync(placements, folders, owner, chmod, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether a folder of the source, put below <paramref name="target"/>, lands where the image has a symlink or a file.</summary>
    private static async Task<bool> TreeMeetsLinkAsync(ContainerFiles files, string source, string target, CancellationToken cancellationToken)
    {
        foreach (var folder in new DirectoryInfo(source).EnumerateDirectories().Where(d => d.LinkTarget is null))
        {
            var inImage = target.TrimEnd('/') + "/" + folder.Name;
            ContainerPathStat stat;
            try
            {
                stat = await files.StatAsync(inImage, cancellationToken).ConfigureAwait(false);
            }
            catch (PortLayer.Errors.PortLayerException ex) when (ex.Kind == PortLayer.Errors.ErrorKind.NotFound)
            {
                // Not in the image: nothing below it is either.
                continue;
            }

            if (!stat.IsDirectory || await TreeMeetsLinkAsync(files, folder.FullName, inImage, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A folder of the image with its symlinks followed inside the image; what was seen on the way is kept in <paramref name="seen"/> (null: not there).</summary>
    private static async Task<string> ResolveFolderAsync(ContainerFiles files, string folder, Dictionary<string, ContainerPathStat?> seen, string keyword, CancellationToken cancellationToken)
    {
        var parts = await Interaction.ScopedPath.ResolveAsync(folder, async (path, _) =>
        {
            if (!seen.TryGetValue(path, out var stat))
            {
                try
                {
                    stat = await files.StatAsync(path, cancellationToken).ConfigureAwait(false);
                }
                catch (PortLayer.Errors.PortLayerException ex) when (ex.Kind == PortLayer.Errors.ErrorKind.NotFound)
                {
                    stat = null;
                }

                seen[path] = stat;
            }

            return stat switch
            {
                { IsSymlink: true } => stat.LinkTarget,
                { IsDirectory: false } => throw new BuildException($"{keyword} failed: cannot copy to {path}: not a directory"),
                _ => null,
            };
        }).ConfigureAwait(false);
        return "/" + string.Join('/', parts);
    }

    /// <summary>
    /// COPY's layer: the folders on the way to each destination (as the image has them, or made
    /// 0755 and owned as asked), then each source below its folder.
    /// </summary>
    private async Task<string> WriteLayerAsync(IReadOnlyList<(CopySource Source, string Folder, string Name)> placements, IReadOnlyDictionary<string, ContainerPathStat?> folders, (int Uid, int Gid) owner, UnixFileMode? chmod, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(scratchFolder);
        var layer = Path.Combine(scratchFolder, $"layer-{Guid.NewGuid():N}.tar");
        try
        {
            await WriteEntriesAsync().ConfigureAwait(false);
        }
        catch
        {
            File.Delete(layer);
            throw;
        }

        return layer;

        async Task WriteEntriesAsync()
        {
            await using var output = File.Create(layer);
            var writer = new System.Formats.Tar.TarWriter(output, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true);
            await using (writer.ConfigureAwait(false))
            {
                var made = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (source, folder, name) in placements)
                {
                    var path = "";
                    foreach (var part in folder.Split('/', StringSplitOptions.RemoveEmptyEntries))
                    {
                        path += part + "/";
                        if (made.Add(path))
                        {
                            var existing = folders.GetValueOrDefault("/" + path.TrimEnd('/'));
                            await writer.WriteEntryAsync(
                                new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.Directory, path)
                                {
                                    Mode = existing?.UnixMode ?? (UnixFileMode)0x1ED,
                                    Uid = existing?.Uid ?? owner.Uid,
                                    Gid = existing?.Gid ?? owner.Gid,
                                    ModificationTime = existing?.Mtime ?? DateTimeOffset.UtcNow,
                                },
                                cancellationToken).ConfigureAwait(false);
                        }
                    }

                    await CopySources.WriteTarAsync(source, name, chmod, writer, cancellationToken, prefix: path, owner).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>A numeric --chown (<c>uid[:gid]</c>; a uid alone is the gid too); empty is root.</summary>
    private static (int Uid, int Gid) NumericIds(string owner)
    {
        if (owner.Length == 0)
        {
            return (0, 0);
        }

        var ids = owner.Split(':').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray();
        return (ids[0], ids.Length > 1 ? ids[1] : ids[0]);
    }

    /// <summary><c>--keep-git-dir</c> alone or with a value Go's strconv.ParseBool takes.</summary>
    private static bool KeepGitDir(string value) => value switch
    {
        "" or "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw new BuildException($"invalid --keep-git-dir value {value}: true or false"),
    };

    [GeneratedRegex(@"^\d+(:\d+)?$")]
    private static partial Regex NumericOwner();
}
