namespace Vic.Build;

/// <summary>What <c>POST /build</c> asks of a build, validated; the context comes separately.</summary>
public sealed record BuildOptions
{
    /// <summary>The Dockerfile's path inside the context.</summary>
    public string Dockerfile { get; init; } = "Dockerfile";

    /// <summary><c>-t</c>: the names the result gets.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary><c>--build-arg</c>; a null value takes the variable from the client's environment, which the CLI has already done.</summary>
    public IReadOnlyDictionary<string, string?> BuildArgs { get; init; } = new Dictionary<string, string?>();

    /// <summary><c>--target</c>: the stage the build ends with.</summary>
    public string? Target { get; init; }

    public bool NoCache { get; init; }

    /// <summary><c>--pull</c>: every FROM image is pulled afresh.</summary>
    public bool Pull { get; init; }

    /// <summary>Remove a RUN's container once its step succeeded (dockerd's default).</summary>
    public bool RemoveIntermediate { get; init; } = true;

    /// <summary>Remove a RUN's container whatever happened.</summary>
    public bool ForceRemove { get; init; }

    /// <summary><c>-q</c>: only the image id is printed.</summary>
    public bool Quiet { get; init; }

    /// <summary><c>--label</c>: labels of the result.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--network</c> of every RUN.</summary>
    public string NetworkMode { get; init; } = "default";

    /// <summary><c>--add-host</c> of every RUN.</summary>
    public IReadOnlyList<string> ExtraHosts { get; init; } = [];

    /// <summary><c>-m</c> of every RUN's ContainerVM; 0 for the VCH's default.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>
    /// <c>--cache-from</c>: when given (even empty), only steps in these images' build chains count
    /// as cache, as dockerd's classic builder has it; null uses every earlier build.
    /// </summary>
    public IReadOnlyList<string>? CacheFrom { get; init; }

    /// <summary>Credentials for pulling FROM images, by registry (the CLI's X-Registry-Config).</summary>
    public IReadOnlyDictionary<string, Registry.RegistryCredentials> Credentials { get; init; } = new Dictionary<string, Registry.RegistryCredentials>();
}

/// <summary>Where a build's progress goes: the lines the client prints, and the image id at the end.</summary>
public interface IBuildOutput
{
    /// <summary>Text the client prints as it is (<c>stream</c> messages).</summary>
    Task WriteAsync(string text, CancellationToken cancellationToken);

    /// <summary>The built image's id (an <c>aux</c> message, which <c>--iidfile</c> and docker-py read).</summary>
    Task ResultAsync(string imageId, CancellationToken cancellationToken);

    /// <summary>A FROM image's pull progress.</summary>
    IProgress<ImageStore.Pull.PullProgress> PullProgress { get; }
}
