namespace Vic.Interaction;

/// <summary>
/// A path resolved as if one folder were the whole filesystem (moby's FollowSymlinkInScope): each
/// symlink on the way is followed, an absolute target starts again from that folder, and <c>..</c>
/// never climbs above it. The tether resolves container paths so (docker cp, COPY's unpacking); the
/// builder resolves COPY's sources in the context and its destinations in an image the same way.
/// </summary>
public static class ScopedPath
{
    /// <summary>
    /// The parts of <paramref name="path"/> with its symlinks followed. <paramref name="linkTargetOf"/>
    /// is asked about each resolved <c>/</c>-path on the way (and whether it is the last part): the
    /// target of the symlink there, or null to take the part as it is.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ResolveAsync(string path, Func<string, bool, Task<string?>> linkTargetOf)
    {
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part is "." or "..")
            {
                if (part == ".." && resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            if (await linkTargetOf("/" + string.Join('/', resolved.Append(part)), pending.Count == 0).ConfigureAwait(false) is { } target)
            {
                if (++links > 40)
                {
                    throw new IOException($"too many levels of symbolic links in {path}");
                }

                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }

                foreach (var piece in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                {
                    pending.Push(piece);
                }

                continue;
            }

            resolved.Add(part);
        }

        return resolved;
    }

    /// <summary><see cref="ResolveAsync"/> where every answer is at hand (a local filesystem).</summary>
    public static IReadOnlyList<string> Resolve(string path, Func<string, bool, string?> linkTargetOf) =>
        ResolveAsync(path, (p, last) => Task.FromResult(linkTargetOf(p, last))).GetAwaiter().GetResult();
}
