namespace Vic.PortLayer.Containers;

/// <summary>
/// What the VCH knows of one container: identity, what it was made from, and where it is in its
/// lifecycle. Immutable; the catalog swaps whole records so a reader never sees half a change.
/// </summary>
public sealed record ContainerRecord
{
    /// <summary>64 lower-case hex digits, as Docker ids are.</summary>
    public required string Id { get; init; }

    /// <summary>The name without Docker's leading slash.</summary>
    public required string Name { get; init; }

    /// <summary>The image reference the user gave, e.g. <c>busybox</c>.</summary>
    public required string Image { get; init; }

    /// <summary>The image's content id (<c>sha256:...</c>), empty until images land in the store.</summary>
    public string ImageId { get; init; } = "";

    public required DateTimeOffset Created { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public required ContainerStatus Status { get; init; }

    /// <summary>How often the restart policy has started the container again.</summary>
    public int RestartCount { get; init; }

    /// <summary>Stopped or killed by a user: unless-stopped and on-failure leave it down, always only until the VCH restarts.</summary>
    public bool ManuallyStopped { get; init; }

    /// <summary>The last healthcheck results; null for a container without a healthcheck.</summary>
    public ContainerHealth? Health { get; init; }

    public ContainerConfig Config { get; init; } = new();

    /// <summary>The networks the container is connected to, keyed by network name.</summary>
    public IReadOnlyDictionary<string, Networks.NetworkEndpoint> Networks { get; init; } = new Dictionary<string, Networks.NetworkEndpoint>();

    /// <summary>The bridge NIC's MAC the backend's range gave the container at create; null where Docker's own is used.</summary>
    public string? AssignedMac { get; init; }

    /// <summary>The MAC of the container's bridge NIC: the one asked for, the backend's, or one derived from its id as dockerd does.</summary>
    public string MacAddress => Config.MacAddress ?? AssignedMac ?? $"02:42:{Id[0..2]}:{Id[2..4]}:{Id[4..6]}:{Id[6..8]}";

    /// <summary>The host ports forwarded to the container while it runs (resolved from -p and -P at start).</summary>
    public IReadOnlyList<Networks.PublishedPort> Ports { get; init; } = [];

    public ContainerRef Ref => new(Id, Name);
}
