using Vic.Registry;

namespace Vic.PortLayer.Images;

/// <summary>One repository <c>docker search</c> found.</summary>
public sealed record SearchResult(string Name, bool IsOfficial);

public sealed partial class ImageService
{
    /// <summary>
    /// <c>docker search</c>: the repositories of the registry the term names (docker.io, through its
    /// mirrors, when it names none) whose names hold the term. A v2 registry has no search of its
    /// own, so its catalog is searched; stars and descriptions it does not keep are 0 and empty.
    /// </summary>
    public async Task<IReadOnlyList<SearchResult>> SearchAsync(string term, int limit, RegistryCredentials? credentials, CancellationToken cancellationToken)
    {
        var slash = term.IndexOf('/', StringComparison.Ordinal);
        var named = slash > 0 && (term[..slash].Contains('.', StringComparison.Ordinal) || term[..slash].Contains(':', StringComparison.Ordinal) || term[..slash] == "localhost");
        var (registry, wanted) = named ? (term[..slash], term[(slash + 1)..]) : (ImageReference.DockerHub, term);
        IReadOnlyList<string> repositories;
        try
        {
            repositories = await _registry.CatalogAsync(registry, credentials, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }

        return [.. repositories
            .Select(r => registry == ImageReference.DockerHub && r.StartsWith("library/", StringComparison.Ordinal) ? r["library/".Length..] : r)
            .Where(r => r.Contains(wanted, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.Ordinal) // "busybox" and "library/busybox" are one repository on docker.io
            .Order(StringComparer.Ordinal)
            .Take(limit)
            .Select(r => new SearchResult(named ? $"{registry}/{r}" : r, IsOfficial: registry == ImageReference.DockerHub && !r.Contains('/', StringComparison.Ordinal)))];
    }
}
