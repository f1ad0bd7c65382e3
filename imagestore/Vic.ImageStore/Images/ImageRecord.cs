namespace Vic.ImageStore.Images;

/// <summary>
/// An image the VCH holds: its id (the digest of its config), the names that point at it, and its
/// layers by diffID, bottom first. The config itself is kept beside it verbatim.
/// </summary>
public sealed record ImageRecord
{
    /// <summary><c>sha256:</c> + the hex digest of the config blob, as docker's image ids are.</summary>
    public required string Id { get; init; }

    /// <summary>Familiar <c>name:tag</c> strings, e.g. <c>busybox:latest</c>.</summary>
    public IReadOnlyList<string> RepoTags { get; init; } = [];

    /// <summary>Familiar <c>name@sha256:...</c> strings of the manifests it was pulled as.</summary>
    public IReadOnlyList<string> RepoDigests { get; init; } = [];

    public required IReadOnlyList<string> DiffIds { get; init; }

    /// <summary>Bytes of all layer tars: what docker shows as SIZE.</summary>
    public required long Size { get; init; }

    /// <summary>The config's <c>created</c>.</summary>
    public required DateTimeOffset Created { get; init; }

    /// <summary>When this VCH stored it; orders images for <c>before</c>/<c>since</c> filters.</summary>
    public required DateTimeOffset Stored { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The image a build step made this one from (dockerd's parent chain); null for pulled, loaded and imported images.</summary>
    public string? Parent { get; init; }

    /// <summary>What the build step that made it did, with the digests of its inputs: the build cache looks it up under <see cref="Parent"/>.</summary>
    public string? BuildKey { get; init; }

    public bool IsDangling => RepoTags.Count == 0;

    public string ShortId => Id[7..19];
}
