using System.Text.RegularExpressions;

namespace Vic.Registry;

/// <summary>
/// A normalised image reference: <c>busybox</c> is <c>docker.io/library/busybox:latest</c>. Follows
/// the rules of distribution/reference: the first component is a registry only if it has a dot or a
/// port or is <c>localhost</c>; repositories are lower case; a digest pins the content.
/// </summary>
public sealed partial record ImageReference(string Registry, string Repository, string? Tag, string? Digest)
{
    public const string DockerHub = "docker.io";

    /// <summary>The familiar form docker prints: <c>busybox:latest</c>, <c>127.0.0.1:5000/app:1</c>.</summary>
    public string FamiliarName
    {
        get
        {
            var name = Registry == DockerHub
                ? Repository.StartsWith("library/", StringComparison.Ordinal) ? Repository["library/".Length..] : Repository
                : $"{Registry}/{Repository}";
            return name;
        }
    }

    /// <summary><c>name:tag</c> or <c>name@digest</c> in familiar form.</summary>
    public string FamiliarString => Digest is not null ? $"{FamiliarName}@{Digest}" : $"{FamiliarName}:{Tag}";

    /// <summary>What a manifest request names: the digest if pinned, else the tag.</summary>
    public string ManifestReference => Digest ?? Tag ?? "latest";

    public static ImageReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    public static bool TryParse(string text, out ImageReference reference, out string error)
    {
        reference = null!;
        error = $"invalid reference format: {text}";
        var match = Grammar().Match(text);
        if (!match.Success || text.Length > 255 + 71 + 128)
        {
            return false;
        }

        var name = match.Groups["name"].Value;
        if (name.Any(char.IsAsciiLetterUpper))
        {
            error = $"invalid reference format: repository name ({name}) must be lowercase";
            return false;
        }

        var slash = name.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? "" : name[..slash];
        string registry, repository;
        if (slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost"))
        {
            registry = first;
            repository = name[(slash + 1)..];
        }
        else
        {
            registry = DockerHub;
            repository = name;
        }

        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }

        if (registry == DockerHub && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        if (!RepositoryGrammar().IsMatch(repository))
        {
            return false;
        }

        var tag = match.Groups["tag"].Success ? match.Groups["tag"].Value : null;
        var digest = match.Groups["digest"].Success ? match.Groups["digest"].Value : null;
        reference = new ImageReference(registry, repository, digest is null ? tag ?? "latest" : tag, digest);
        return true;
    }

    public ImageReference WithTag(string tag) => this with { Tag = tag, Digest = null };

    public ImageReference WithDigest(string digest) => this with { Digest = digest };

    public override string ToString() => Digest is not null
        ? $"{Registry}/{Repository}@{Digest}"
        : $"{Registry}/{Repository}:{Tag}";

    [GeneratedRegex(@"^(?<name>[^:@/][^@]*?)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$")]
    private static partial Regex Grammar();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryGrammar();
}
