namespace Vic.Api.Models;

/// <summary><c>GET /info</c> (swagger: SystemInfo), the fields the docker CLI and docker-py read.</summary>
public sealed record InfoResponse
{
    public required string ID { get; init; }

    public required int Containers { get; init; }

    public required int ContainersRunning { get; init; }

    public required int ContainersPaused { get; init; }

    public required int ContainersStopped { get; init; }

    public required long Images { get; init; }

    public required string Driver { get; init; }

    public required IReadOnlyList<string[]> DriverStatus { get; init; }

    public required IReadOnlyList<string[]> SystemStatus { get; init; }

    public required InfoPlugins Plugins { get; init; }

    public bool MemoryLimit { get; init; } = true;

    public bool SwapLimit { get; init; }

    public bool CpuCfsPeriod { get; init; } = true;

    public bool CpuCfsQuota { get; init; } = true;

    public bool CPUShares { get; init; } = true;

    public bool CPUSet { get; init; }

    public bool PidsLimit { get; init; }

    public bool OomKillDisable { get; init; }

    public bool IPv4Forwarding { get; init; } = true;

    public bool Debug { get; init; }

    public int NFd { get; init; }

    public int NGoroutines { get; init; }

    public required string SystemTime { get; init; }

    public string LoggingDriver { get; init; } = "json-file";

    public string CgroupDriver { get; init; } = "none";

    public string CgroupVersion { get; init; } = "";

    public required int NEventsListener { get; init; }

    public required string KernelVersion { get; init; }

    public required string OperatingSystem { get; init; }

    public string OSVersion { get; init; } = "";

    public string OSType { get; init; } = "linux";

    public string Architecture { get; init; } = "x86_64";

    public string IndexServerAddress { get; init; } = "https://index.docker.io/v1/";

    public required InfoRegistryConfig RegistryConfig { get; init; }

    public required int NCPU { get; init; }

    public required long MemTotal { get; init; }

    public required string DockerRootDir { get; init; }

    public string HttpProxy { get; init; } = "";

    public string HttpsProxy { get; init; } = "";

    public string NoProxy { get; init; } = "";

    public required string Name { get; init; }

    public IReadOnlyList<string> Labels { get; init; } = [];

    public bool ExperimentalBuild { get; init; }

    public required string ServerVersion { get; init; }

    public IReadOnlyDictionary<string, InfoRuntime> Runtimes { get; init; } = new Dictionary<string, InfoRuntime>();

    public string DefaultRuntime { get; init; } = "containervm";

    public InfoSwarm Swarm { get; init; } = new();

    public bool LiveRestoreEnabled { get; init; } = true;

    public string Isolation { get; init; } = "";

    public string InitBinary { get; init; } = "";

    public InfoCommit ContainerdCommit { get; init; } = new();

    public InfoCommit RuncCommit { get; init; } = new();

    public InfoCommit InitCommit { get; init; } = new();

    public IReadOnlyList<string> SecurityOptions { get; init; } = [];

    public IReadOnlyList<string> Warnings { get; init; } = [];
}

public sealed record InfoPlugins(IReadOnlyList<string> Volume, IReadOnlyList<string> Network, IReadOnlyList<string>? Authorization, IReadOnlyList<string> Log);

public sealed record InfoRuntime(string Path);

public sealed record InfoSwarm
{
    public string NodeID { get; init; } = "";

    public string NodeAddr { get; init; } = "";

    public string LocalNodeState { get; init; } = "inactive";

    public bool ControlAvailable { get; init; }

    public string Error { get; init; } = "";

    public object? RemoteManagers { get; init; }
}

public sealed record InfoCommit
{
    public string ID { get; init; } = "";

    public string Expected { get; init; } = "";
}

public sealed record InfoRegistryConfig
{
    public IReadOnlyList<string> AllowNondistributableArtifactsCIDRs { get; init; } = [];

    public IReadOnlyList<string> AllowNondistributableArtifactsHostnames { get; init; } = [];

    public required IReadOnlyList<string> InsecureRegistryCIDRs { get; init; }

    public required IReadOnlyDictionary<string, InfoIndexConfig> IndexConfigs { get; init; }

    public required IReadOnlyList<string> Mirrors { get; init; }
}

public sealed record InfoIndexConfig(string Name, IReadOnlyList<string> Mirrors, bool Secure, bool Official);
