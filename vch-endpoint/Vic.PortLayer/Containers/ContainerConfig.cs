namespace Vic.PortLayer.Containers;

/// <summary>Docker's restart policy: no, always, unless-stopped or on-failure with a retry limit.</summary>
public sealed record RestartPolicy(string Name = "no", int MaximumRetryCount = 0);

/// <summary>
/// How a container runs, already merged with its image's config (entrypoint, cmd, env, workdir,
/// user), as dockerd does at create time. The Api fills it from the create request.
/// </summary>
public sealed record ContainerConfig
{
    public IReadOnlyList<string> Entrypoint { get; init; } = [];

    public IReadOnlyList<string> Cmd { get; init; } = [];

    public IReadOnlyList<string> Env { get; init; } = [];

    public string WorkingDir { get; init; } = "";

    public string User { get; init; } = "";

    public string Hostname { get; init; } = "";

    public string Domainname { get; init; } = "";

    public bool Tty { get; init; }

    public bool OpenStdin { get; init; }

    public bool StdinOnce { get; init; }

    public bool AutoRemove { get; init; }

    /// <summary>Memory of the ContainerVM; 0 means the VCH's default.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>vCPUs of the ContainerVM (from --cpus, rounded up); 0 means the default.</summary>
    public int Cpus { get; init; }

    public string StopSignal { get; init; } = "SIGTERM";

    public int? StopTimeout { get; init; }

    public RestartPolicy RestartPolicy { get; init; } = new();

    public IReadOnlyList<string> ExtraHosts { get; init; } = [];

    public IReadOnlyList<string> Dns { get; init; } = [];

    public IReadOnlyList<string> DnsSearch { get; init; } = [];

    /// <summary>The healthcheck, the image's unless the container set its own; null for none.</summary>
    public HealthcheckConfig? Healthcheck { get; init; }

    /// <summary>The volumes mounted into the container (named, or anonymous from -v /path and the image's VOLUME).</summary>
    public IReadOnlyList<Volumes.VolumeMount> Mounts { get; init; } = [];

    /// <summary>--init: a minimal init reaps zombies and forwards signals to the process.</summary>
    public bool Init { get; init; }

    /// <summary>The process to run: entrypoint then cmd.</summary>
    public IReadOnlyList<string> Args => [.. Entrypoint, .. Cmd];

    /// <summary>Value equality, lists included: a config read back from the store equals the one written.</summary>
    public bool Equals(ContainerConfig? other) =>
        other is not null
        && Entrypoint.SequenceEqual(other.Entrypoint) && Cmd.SequenceEqual(other.Cmd) && Env.SequenceEqual(other.Env)
        && ExtraHosts.SequenceEqual(other.ExtraHosts) && Dns.SequenceEqual(other.Dns) && DnsSearch.SequenceEqual(other.DnsSearch)
        && (WorkingDir, User, Hostname, Domainname, Tty, OpenStdin, StdinOnce, AutoRemove, MemoryBytes, Cpus, StopSignal, StopTimeout, RestartPolicy)
            == (other.WorkingDir, other.User, other.Hostname, other.Domainname, other.Tty, other.OpenStdin, other.StdinOnce, other.AutoRemove, other.MemoryBytes, other.Cpus, other.StopSignal, other.StopTimeout, other.RestartPolicy)
        && Equals(Healthcheck, other.Healthcheck) && Init == other.Init && Mounts.SequenceEqual(other.Mounts);

    public override int GetHashCode() => HashCode.Combine(string.Join('\0', Args), WorkingDir, User, Hostname, Tty, MemoryBytes, Cpus);
}
