namespace Vic.PortLayer.Containers;

/// <summary>Docker's restart policy: no, always, unless-stopped or on-failure with a retry limit.</summary>
public sealed record RestartPolicy(string Name = "no", int MaximumRetryCount = 0);

/// <summary>The CPU options as asked (<c>--cpus</c>, <c>-c</c>, <c>--cpu-quota/--cpu-period</c>), which inspect shows; <see cref="ContainerConfig.Cpus"/> is what they come to.</summary>
public sealed record CpuRequest(long NanoCpus = 0, long Shares = 0, long Quota = 0, long Period = 0);

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

    /// <summary>Host folders bound into the container.</summary>
    public IReadOnlyList<HostBind> Binds { get; init; } = [];

    /// <summary>--init: a minimal init reaps zombies and forwards signals to the process.</summary>
    public bool Init { get; init; }

    /// <summary><c>--network</c>: <c>default</c> (the bridge), <c>none</c>, or a network's name or id.</summary>
    public string NetworkMode { get; init; } = "default";

    /// <summary>What the create asked of each network (NetworkingConfig.EndpointsConfig), keyed by the name given.</summary>
    public IReadOnlyDictionary<string, Networks.EndpointRequest> EndpointRequests { get; init; } = new Dictionary<string, Networks.EndpointRequest>();

    /// <summary>Ports the container exposes, from EXPOSE and <c>--expose</c>, e.g. <c>80/tcp</c>.</summary>
    public IReadOnlyList<string> ExposedPorts { get; init; } = [];

    /// <summary><c>-p</c>: container ports bound to host ports, resolved to real host ports at start.</summary>
    public IReadOnlyList<Networks.PortBinding> PortBindings { get; init; } = [];

    /// <summary><c>-P</c>: every exposed port gets a free host port.</summary>
    public bool PublishAllPorts { get; init; }

    /// <summary><c>--tmpfs path[:options]</c>: a tmpfs at each path, in the guest's memory.</summary>
    public IReadOnlyDictionary<string, string> Tmpfs { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--group-add</c>: supplementary groups (names from the image's /etc/group, or numbers) of every process.</summary>
    public IReadOnlyList<string> GroupAdd { get; init; } = [];

    /// <summary><c>--log-driver</c> and <c>--log-opt</c>.</summary>
    public LogSettings Log { get; init; } = LogSettings.Default;

    /// <summary><c>--mac-address</c>: the bridge NIC's MAC (lower case); null derives one from the container's id.</summary>
    public string? MacAddress { get; init; }

    /// <summary><c>--link container:alias</c>, on the default bridge.</summary>
    public IReadOnlyList<string> Links { get; init; } = [];

    public CpuRequest CpuAsked { get; init; } = new();

    /// <summary><c>--volume-driver</c>: the driver of the volumes made for this container ("" or "local" for the VCH's own).</summary>
    public string VolumeDriver { get; init; } = "";

    /// <summary><c>--dns-option</c>: the options line of the container's /etc/resolv.conf.</summary>
    public IReadOnlyList<string> DnsOptions { get; init; } = [];

    /// <summary><c>--volumes-from container[:ro|rw]</c> as asked; their mounts are already in <see cref="Mounts"/> and <see cref="Binds"/>.</summary>
    public IReadOnlyList<string> VolumesFrom { get; init; } = [];

    /// <summary>Capabilities, limits and the rest of what the container's processes are held to in the guest.</summary>
    public ContainerConfinement Confinement { get; init; } = ContainerConfinement.Default;

    /// <summary>The process to run: entrypoint then cmd.</summary>
    public IReadOnlyList<string> Args => [.. Entrypoint, .. Cmd];

    /// <summary>Value equality, lists included: a config read back from the store equals the one written.</summary>
    public bool Equals(ContainerConfig? other) =>
        other is not null
        && Entrypoint.SequenceEqual(other.Entrypoint) && Cmd.SequenceEqual(other.Cmd) && Env.SequenceEqual(other.Env)
        && ExtraHosts.SequenceEqual(other.ExtraHosts) && Dns.SequenceEqual(other.Dns) && DnsSearch.SequenceEqual(other.DnsSearch)
        && (WorkingDir, User, Hostname, Domainname, Tty, OpenStdin, StdinOnce, AutoRemove, MemoryBytes, Cpus, StopSignal, StopTimeout, RestartPolicy)
            == (other.WorkingDir, other.User, other.Hostname, other.Domainname, other.Tty, other.OpenStdin, other.StdinOnce, other.AutoRemove, other.MemoryBytes, other.Cpus, other.StopSignal, other.StopTimeout, other.RestartPolicy)
        && Equals(Healthcheck, other.Healthcheck) && Init == other.Init && Mounts.SequenceEqual(other.Mounts) && Binds.SequenceEqual(other.Binds)
        && NetworkMode == other.NetworkMode && ExposedPorts.SequenceEqual(other.ExposedPorts) && PortBindings.SequenceEqual(other.PortBindings)
        && PublishAllPorts == other.PublishAllPorts && Links.SequenceEqual(other.Links) && GroupAdd.SequenceEqual(other.GroupAdd) && MacAddress == other.MacAddress && Equals(Log, other.Log)
        && DnsOptions.SequenceEqual(other.DnsOptions) && VolumesFrom.SequenceEqual(other.VolumesFrom) && Equals(Confinement, other.Confinement) && CpuAsked == other.CpuAsked && VolumeDriver == other.VolumeDriver
        && Tmpfs.Count == other.Tmpfs.Count && Tmpfs.All(t => other.Tmpfs.TryGetValue(t.Key, out var o) && o == t.Value)
        && EndpointRequests.Count == other.EndpointRequests.Count && EndpointRequests.All(e => other.EndpointRequests.TryGetValue(e.Key, out var o) && SameRequest(e.Value, o));

    private static bool SameRequest(Networks.EndpointRequest a, Networks.EndpointRequest b) =>
        a.Ipv4Address == b.Ipv4Address && (a.Aliases ?? []).SequenceEqual(b.Aliases ?? []) && (a.Links ?? []).SequenceEqual(b.Links ?? []);

    public override int GetHashCode() => HashCode.Combine(string.Join('\0', Args), WorkingDir, User, Hostname, Tty, MemoryBytes, Cpus);
}
