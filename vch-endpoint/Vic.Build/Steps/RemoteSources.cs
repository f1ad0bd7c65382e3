using Vic.Build.Context;
using Vic.Build.Dockerfile;

namespace Vic.Build.Steps;

/// <summary>Sources a COPY or ADD brings from outside the context: here-documents, URLs, git repositories.</summary>
internal static class RemoteSources
{
    /// <summary>
    /// The context, or for ADD of URLs and repositories and COPY of here-documents a folder with what
    /// they bring: the sources are then named as they are in that folder.
    /// </summary>
    /// <param name="keepGitDir"><c>ADD --keep-git-dir</c>: a repository keeps its <c>.git</c>.</param>
    public static async Task<(string Root, List<string> Patterns)> GatherAsync(Instruction instruction, string keyword, List<string> patterns, ScratchFolder work, string root, bool keepGitDir, CancellationToken cancellationToken)
    {
        if (!patterns.Any(p => p.StartsWith("<<", StringComparison.Ordinal) || IsRemote(p)))
        {
            return (root, patterns);
        }

        if (patterns.Any(p => !p.StartsWith("<<", StringComparison.Ordinal) && !IsRemote(p)))
        {
            throw new BuildException($"{keyword} of URLs or here-documents cannot be mixed with files of the context in one instruction");
        }

        var folder = Directory.CreateDirectory(Path.Combine(work.Path, "remote")).FullName;
        var names = new List<string>();
        foreach (var pattern in patterns)
        {
            if (pattern.StartsWith("<<", StringComparison.Ordinal))
            {
                var name = pattern.TrimStart('<', '-').Trim('"', '\'');
                var document = instruction.HereDocuments.FirstOrDefault(h => h.Name == name) ?? throw new BuildException($"{keyword}: no here-document named {name}");
                await File.WriteAllTextAsync(Path.Combine(folder, name), document.Content, cancellationToken).ConfigureAwait(false);
                File.SetUnixFileMode(Path.Combine(folder, name), (UnixFileMode)0x1A4);
                names.Add(name);
                continue;
            }

            if (keyword != "ADD")
            {
                throw new BuildException($"source can't be a URL for COPY: {pattern}");
            }

            if (GitRepository.IsGitUrl(pattern))
            {
                // A repository's tree lands in the destination as a folder's contents do.
                var name = $"__git__{names.Count}";
                await GitRepository.CloneAsync(pattern, Path.Combine(folder, name), keepGitDir, cancellationToken).ConfigureAwait(false);
                names.Add(name);
                continue;
            }

            names.Add(await DownloadAsync(pattern, folder, cancellationToken).ConfigureAwait(false));
        }

        return (folder, names);
    }

    private static bool IsRemote(string source) =>
        source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || GitRepository.IsGitUrl(source);

    /// <summary>ADD of a URL: the file as served, mode 0600, its time from Last-Modified, as dockerd has it.</summary>
    private static async Task<string> DownloadAsync(string url, string folder, CancellationToken cancellationToken)
    {
        using var response = await RemoteFetch.GetAsync(url, "ADD failed: ", cancellationToken).ConfigureAwait(false);
        var name = Path.GetFileName(new Uri(url).AbsolutePath);
        name = name.Length == 0 ? "__unnamed__" : Uri.UnescapeDataString(name);
        var path = Path.Combine(folder, name);
        await using (var file = File.Create(path))
        {
            await response.Content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetLastWriteTimeUtc(path, response.Content.Headers.LastModified?.UtcDateTime ?? DateTime.UnixEpoch);
        return name;
    }
}
