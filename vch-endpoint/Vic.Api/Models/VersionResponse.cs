namespace Vic.Api.Models;

/// <summary><c>GET /version</c> (swagger: SystemVersion).</summary>
public sealed record VersionResponse
{
    public required PlatformName Platform { get; init; }

    public required IReadOnlyList<ComponentVersion> Components { get; init; }

    public required string Version { get; init; }

    public required string ApiVersion { get; init; }

    public required string MinAPIVersion { get; init; }

    public required string GitCommit { get; init; }

    public required string GoVersion { get; init; }

    public string Os { get; init; } = "linux";

    public string Arch { get; init; } = "amd64";

    public required string KernelVersion { get; init; }

    public bool Experimental { get; init; }

    public required string BuildTime { get; init; }
}

public sealed record PlatformName(string Name);

public sealed record ComponentVersion(string Name, string Version, IReadOnlyDictionary<string, string> Details);
