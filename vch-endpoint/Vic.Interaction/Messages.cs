using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vic.Interaction;

/// <summary>The tether says it is ready; sent at boot and again after an instant clone wakes.</summary>
/// <param name="StartedAt">Seconds from the guest's boot to the tether's exec (0 when unknown): with <paramref name="SentAt"/>, how long the tether took to start.</param>
/// <param name="SentAt">Seconds from the guest's boot to this hello (0 when unknown).</param>
public sealed record HelloMessage([property: JsonPropertyName("version")] int Version, [property: JsonPropertyName("kernel")] string Kernel, [property: JsonPropertyName("bootId")] string BootId, [property: JsonPropertyName("startedAt")] double StartedAt = 0, [property: JsonPropertyName("sentAt")] double SentAt = 0);

/// <summary>A disk the container needs, found in the guest by its virtio serial.</summary>
/// <param name="Serial">The serial the backend gave the disk; the guest finds it under /sys/block/*/serial.</param>
/// <param name="Role">"layer" (read-only, bottom first by Index), "scratch" (the container's writable layer) or "volume".</param>
/// <param name="Path">For volumes: where to mount it in the container.</param>
public sealed record DiskSpec([property: JsonPropertyName("serial")] string Serial, [property: JsonPropertyName("role")] string Role, [property: JsonPropertyName("index")] int Index, [property: JsonPropertyName("path")] string? Path = null, [property: JsonPropertyName("readOnly")] bool ReadOnly = false);

/// <summary>A folder on an NFS export, mounted with NFSv4 at <paramref name="Path"/> in the container.</summary>
/// <param name="Server">The server's IPv4 address as the guest reaches it (the kernel mounts by address).</param>
public sealed record NfsVolumeSpec([property: JsonPropertyName("server")] string Server, [property: JsonPropertyName("port")] int Port, [property: JsonPropertyName("exportPath")] string ExportPath, [property: JsonPropertyName("path")] string Path, [property: JsonPropertyName("readOnly")] bool ReadOnly);

/// <summary>A host folder shared with the VM (virtiofs), found in the guest by its tag.</summary>
/// <param name="Path">Where it goes in the container.</param>
/// <param name="FileName">For a bound file: its name in the shared folder (its host folder); null binds the whole share.</param>
public sealed record ShareSpec([property: JsonPropertyName("tag")] string Tag, [property: JsonPropertyName("path")] string Path, [property: JsonPropertyName("readOnly")] bool ReadOnly, [property: JsonPropertyName("fileName")] string? FileName = null);

/// <summary>A tmpfs in the container: its path and Docker's option string (empty for the defaults).</summary>
public sealed record TmpfsSpec([property: JsonPropertyName("path")] string Path, [property: JsonPropertyName("options")] string Options);

/// <summary>Everything the tether needs to turn the VM into the container.</summary>
public sealed record ContainerSpec
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("args")]
    public required IReadOnlyList<string> Args { get; init; }

    [JsonPropertyName("env")]
    public IReadOnlyList<string> Env { get; init; } = [];

    [JsonPropertyName("workingDir")]
    public string WorkingDir { get; init; } = "/";

    /// <summary>user[:group], by name or number, as Docker's --user.</summary>
    [JsonPropertyName("user")]
    public string User { get; init; } = "";

    [JsonPropertyName("hostname")]
    public string Hostname { get; init; } = "";

    [JsonPropertyName("domainname")]
    public string Domainname { get; init; } = "";

    [JsonPropertyName("tty")]
    public bool Tty { get; init; }

    [JsonPropertyName("openStdin")]
    public bool OpenStdin { get; init; }

    [JsonPropertyName("disks")]
    public IReadOnlyList<DiskSpec> Disks { get; init; } = [];

    /// <summary>Volumes on NFS stores the tether mounts over the network once the NICs are up.</summary>
    [JsonPropertyName("nfsVolumes")]
    public IReadOnlyList<NfsVolumeSpec> NfsVolumes { get; init; } = [];

    /// <summary>Host folders the VM has as shared file systems, and where each goes in the container.</summary>
    [JsonPropertyName("shares")]
    public IReadOnlyList<ShareSpec> Shares { get; init; } = [];

    /// <summary>Extra /etc/hosts lines beyond localhost and the container's own name.</summary>
    [JsonPropertyName("extraHosts")]
    public IReadOnlyList<string> ExtraHosts { get; init; } = [];

    [JsonPropertyName("dns")]
    public IReadOnlyList<string> Dns { get; init; } = [];

    [JsonPropertyName("dnsSearch")]
    public IReadOnlyList<string> DnsSearch { get; init; } = [];

    /// <summary><c>--tmpfs</c>: a tmpfs at each path, with Docker's options (<c>size=64m,mode=1777,ro,exec</c>).</summary>
    [JsonPropertyName("tmpfs")]
    public IReadOnlyList<TmpfsSpec> Tmpfs { get; init; } = [];

    /// <summary><c>--group-add</c>: supplementary groups of every process, by name or number.</summary>
    [JsonPropertyName("groupAdd")]
    public IReadOnlyList<string> GroupAdd { get; init; } = [];

    /// <summary><c>--dns-option</c>: the <c>options</c> line of /etc/resolv.conf.</summary>
    [JsonPropertyName("dnsOptions")]
    public IReadOnlyList<string> DnsOptions { get; init; } = [];

    /// <summary><c>--read-only</c>: the root is mounted read-only once prepared (volumes, tmpfs and /dev stay as they are).</summary>
    [JsonPropertyName("readOnlyRoot")]
    public bool ReadOnlyRoot { get; init; }

    /// <summary><c>--privileged</c>: /sys writable (and, through <see cref="Confinement"/>, every capability).</summary>
    [JsonPropertyName("privileged")]
    public bool Privileged { get; init; }

    /// <summary><c>--shm-size</c>: the size of the container's /dev/shm, a tmpfs of its own; 0 for dockerd's 64 MiB.</summary>
    [JsonPropertyName("shmSizeBytes")]
    public long ShmSizeBytes { get; init; }

    /// <summary><c>--sysctl</c>: kernel parameters the tether sets in the guest (dotted names) before the process starts.</summary>
    [JsonPropertyName("sysctls")]
    public IReadOnlyDictionary<string, string> Sysctls { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--device</c>: guest devices the container sees, at their own path or another.</summary>
    [JsonPropertyName("devices")]
    public IReadOnlyList<DeviceSpec> Devices { get; init; } = [];

    /// <summary>What every process of the container is held to; null for none (a tether run on a host, in tests).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("confinement")]
    public ConfinementSpec? Confinement { get; init; }

    /// <summary>Rows and columns of the TTY at start.</summary>
    [JsonPropertyName("rows")]
    public int Rows { get; init; } = 24;

    [JsonPropertyName("columns")]
    public int Columns { get; init; } = 80;

    /// <summary>The NICs' addresses; null leaves the VM with loopback only (<c>--network none</c>).</summary>
    [JsonPropertyName("network")]
    public NetworkSpec? Network { get; init; }

    /// <summary>Prepare the root and run nothing: the VM serves file requests (cp, diff, export, commit) of a stopped container.</summary>
    [JsonPropertyName("filesOnly")]
    public bool FilesOnly { get; init; }

    /// <summary>
    /// A build step: when the process ends the VM stays on, serving file requests (its layer is read
    /// back from it), until the endpoint sends <see cref="FrameType.PowerOff"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    [JsonPropertyName("keepAfterExit")]
    public bool KeepAfterExit { get; init; }

    /// <summary>
    /// Random bytes (base64) the tether credits to the kernel's entropy pool and reseeds its random
    /// generator with before anything of the container runs. Instant clones of one template wake with
    /// the same generator state; without a seed of their own they would hand out the same numbers.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("entropySeed")]
    public string? EntropySeed { get; init; }

    /// <summary>
    /// The endpoint's clock (Unix milliseconds) as it sent the spec. A clone wakes with its
    /// template's wall clock, minutes or days old; the tether sets the guest's to this first.
    /// </summary>
    [JsonPropertyName("wallClockUnixMs")]
    public long? WallClockUnixMs { get; init; }

    /// <summary>
    /// /etc/hosts lines for the containers that share a user-defined network with this one, where no
    /// DNS server on the bridge answers for them (vSphere); kept up to date by <see cref="FrameType.PeerHosts"/>.
    /// </summary>
    [JsonPropertyName("peerHosts")]
    public IReadOnlyList<string> PeerHosts { get; init; } = [];
}

/// <summary>The container's peers as they are now: the /etc/hosts lines that replace those the tether last wrote for them.</summary>
public sealed record PeerHostsUpdate([property: JsonPropertyName("peerHosts")] IReadOnlyList<string> PeerHosts);

/// <summary>
/// How the guest's NICs are addressed. The first virtio NIC (eth0) is the bridge NIC, on the VCH's
/// bridge segment; the second (eth1) is the public NIC, the way out and in for published ports.
/// </summary>
/// <param name="BridgeMac">The MAC eth0 takes: every instant clone starts with its template's.</param>
/// <param name="BridgeAddresses">eth0's addresses, <c>address/prefix</c>, one per bridge network.</param>
/// <param name="PublicAddress">eth1's address, <c>address/prefix</c>; null keeps eth1 down.</param>
/// <param name="PublicGateway">The default route through eth1; null for no way out (internal networks).</param>
/// <param name="HostAddress">The address /etc/hosts gives the container's own name.</param>
public sealed record NetworkSpec([property: JsonPropertyName("bridgeMac")] string BridgeMac, [property: JsonPropertyName("bridgeAddresses")] IReadOnlyList<string> BridgeAddresses, [property: JsonPropertyName("publicAddress")] string? PublicAddress, [property: JsonPropertyName("publicGateway")] string? PublicGateway, [property: JsonPropertyName("hostAddress")] string? HostAddress)
{
    /// <summary>The MAC eth1 takes, when the backend gave the public NIC one (vSphere); null keeps the NIC's own.</summary>
    [JsonPropertyName("publicMac")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PublicMac { get; init; }

    /// <summary>eth0's IPv6 addresses, <c>address/prefix</c>, one per bridge network with IPv6; a tether that predates them ignores them.</summary>
    [JsonPropertyName("bridgeIpv6Addresses")]
    public IReadOnlyList<string> BridgeIpv6Addresses { get; init; } = [];

    /// <summary>NICs on port groups (vSphere container networks), found by MAC; one may carry the default route.</summary>
    [JsonPropertyName("nics")]
    public IReadOnlyList<NicSpec> Nics { get; init; } = [];
}

/// <summary>A NIC the guest finds by its MAC: its address (<c>address/prefix</c>) and, for the container's way out, the default gateway.</summary>
public sealed record NicSpec([property: JsonPropertyName("mac")] string Mac, [property: JsonPropertyName("address")] string Address, [property: JsonPropertyName("gateway")] string? Gateway);

/// <summary>A process to run beside the main one.</summary>
public sealed record ExecSpec
{
    [JsonPropertyName("args")]
    public required IReadOnlyList<string> Args { get; init; }

    [JsonPropertyName("env")]
    public IReadOnlyList<string> Env { get; init; } = [];

    [JsonPropertyName("workingDir")]
    public string WorkingDir { get; init; } = "";

    [JsonPropertyName("user")]
    public string User { get; init; } = "";

    [JsonPropertyName("tty")]
    public bool Tty { get; init; }

    [JsonPropertyName("openStdin")]
    public bool OpenStdin { get; init; }

    /// <summary><c>docker exec --privileged</c>: this process keeps every capability.</summary>
    [JsonPropertyName("privileged")]
    public bool Privileged { get; init; }
}

/// <summary>A session's process runs.</summary>
/// <param name="Timings">For the main process: how long the tether took from the spec to it (none for an exec's).</param>
public sealed record StartedMessage([property: JsonPropertyName("pid")] int Pid, [property: JsonPropertyName("timings"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] StartTimings? Timings = null);

/// <summary>Milliseconds from the spec's arrival in the guest to each step of a start being done.</summary>
/// <param name="NetworkMs">Entropy reseeded and NICs addressed.</param>
/// <param name="DisksMs">Every disk of the spec seen by the guest (hot-added disks appear after a SCSI scan).</param>
/// <param name="RootMs">Layers, scratch, overlay, volumes and the container's /etc files mounted and written.</param>
/// <param name="ProcessMs">The main process running: vic-exec has executed the container's program.</param>
/// <param name="RootSteps">What making the root took, step by step ("layers 40 ms, scratch 12 ms, ..."); absent from older tethers.</param>
/// <param name="ProcessSteps">What came between the root and the program running, step by step ("confinement 9 ms, user 15 ms, vic-exec spawned 30 ms, program executed 60 ms"); absent from older tethers.</param>
public sealed record StartTimings([property: JsonPropertyName("networkMs")] double NetworkMs, [property: JsonPropertyName("disksMs")] double DisksMs, [property: JsonPropertyName("rootMs")] double RootMs, [property: JsonPropertyName("processMs")] double ProcessMs, [property: JsonPropertyName("rootSteps"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RootSteps = null, [property: JsonPropertyName("processSteps"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ProcessSteps = null);

/// <summary>Figures from inside the guest for <c>docker stats</c>.</summary>
public sealed record StatsReport([property: JsonPropertyName("cpuNanoseconds")] long CpuNanoseconds, [property: JsonPropertyName("memoryUsedBytes")] long MemoryUsedBytes, [property: JsonPropertyName("memoryTotalBytes")] long MemoryTotalBytes, [property: JsonPropertyName("networkRxBytes")] long NetworkRxBytes, [property: JsonPropertyName("networkTxBytes")] long NetworkTxBytes, [property: JsonPropertyName("blockReadBytes")] long BlockReadBytes, [property: JsonPropertyName("blockWriteBytes")] long BlockWriteBytes, [property: JsonPropertyName("processes")] int Processes);

/// <summary>One session as the tether knows it; <see cref="ExitCode"/> is set once it ended.</summary>
public sealed record SessionState([property: JsonPropertyName("session")] uint Session, [property: JsonPropertyName("pid")] int Pid, [property: JsonPropertyName("exitCode")] int? ExitCode);

public sealed record StateReport([property: JsonPropertyName("sessions")] IReadOnlyList<SessionState> Sessions)
{
    /// <summary>The tether's <see cref="TetherProtocol.Version"/>; 0 from a tether that predates it here (version 1).</summary>
    [JsonPropertyName("version")]
    public int Version { get; init; }
}

/// <summary>
/// What a tether speaks, sent in its Hello and State: a ContainerVM runs on across an endpoint
/// upgrade (and an instant clone is as old as its parent), so the endpoint asks for nothing a tether
/// would not take. A frame type a tether does not know breaks its channel.
/// </summary>
public static class TetherProtocol
{
    /// <summary>This tether's version.</summary>
    public const int Version = 2;

    /// <summary>From this version: relayed connections (<see cref="FrameType.Connect"/>) and <see cref="FrameType.PeerHosts"/>.</summary>
    public const int RelaysPorts = 2;
}

/// <summary>One process in the guest for <c>docker top</c>, as <c>ps -ef</c> shows it.</summary>
/// <param name="StartedAt">Seconds since the guest booted.</param>
/// <param name="CpuSeconds">User and system time used so far.</param>
public sealed record GuestProcess([property: JsonPropertyName("pid")] int Pid, [property: JsonPropertyName("parentPid")] int ParentPid, [property: JsonPropertyName("uid")] int Uid, [property: JsonPropertyName("user")] string User, [property: JsonPropertyName("tty")] string Tty, [property: JsonPropertyName("startedAt")] double StartedAt, [property: JsonPropertyName("cpuSeconds")] long CpuSeconds, [property: JsonPropertyName("command")] string Command)
{
    /// <summary>The state letter of /proc/PID/stat (R, S, D, Z, T...), as ps's STAT begins.</summary>
    [JsonPropertyName("state")]
    public string State { get; init; } = "";

    /// <summary>Virtual memory size, KiB (ps's VSZ).</summary>
    [JsonPropertyName("vszKb")]
    public long VszKb { get; init; }

    /// <summary>Resident set size, KiB (ps's RSS).</summary>
    [JsonPropertyName("rssKb")]
    public long RssKb { get; init; }

    /// <summary>Whether it leads its session (ps's "s" in STAT).</summary>
    [JsonPropertyName("sessionLeader")]
    public bool SessionLeader { get; init; }
}

/// <summary>What a <see cref="FrameType.FilesRequest"/> asks: stat, get, put, export, changes or commit (of <see cref="Path"/> where it applies).</summary>
public sealed record FilesRequest([property: JsonPropertyName("operation")] string Operation, [property: JsonPropertyName("path")] string Path = "", [property: JsonPropertyName("noOverwriteDirNonDir")] bool NoOverwriteDirNonDir = false)
{
    /// <summary>
    /// For a put: <c>user[:group]</c> (names from the container's own /etc/passwd and /etc/group, or
    /// numbers) that every unpacked entry, and every folder made for it, belongs to; a user alone
    /// means the group of the same name, as Dockerfile COPY --chown has it. Null keeps root.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("owner")]
    public string? Owner { get; init; }

    /// <summary>For a put: make the folder at <see cref="Path"/> (and its parents, 0755) when it is missing, as COPY does.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    [JsonPropertyName("makeParents")]
    public bool MakeParents { get; init; }

    public const string Stat = "stat";
    public const string Get = "get";
    public const string Put = "put";
    public const string Export = "export";
    public const string Changes = "changes";
    public const string Commit = "commit";
}

/// <summary>A path in the container as <c>docker cp</c> wants it described; <see cref="Mode"/> uses Go's os.FileMode bits.</summary>
public sealed record PathStat([property: JsonPropertyName("name")] string Name, [property: JsonPropertyName("size")] long Size, [property: JsonPropertyName("mode")] uint Mode, [property: JsonPropertyName("mtime")] DateTimeOffset Mtime, [property: JsonPropertyName("linkTarget")] string LinkTarget)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    [JsonPropertyName("uid")]
    public int Uid { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    [JsonPropertyName("gid")]
    public int Gid { get; init; }
}

/// <summary>One change of the container's writable layer: Kind 0 modified, 1 added, 2 deleted (Docker's numbering).</summary>
public sealed record FileChange([property: JsonPropertyName("path")] string Path, [property: JsonPropertyName("kind")] int Kind);

public sealed record ChangeList([property: JsonPropertyName("changes")] IReadOnlyList<FileChange> Changes);

/// <summary>The container's processes, and when the guest booted (unix seconds) to place their start times.</summary>
public sealed record ProcessList([property: JsonPropertyName("bootedAt")] long BootedAt, [property: JsonPropertyName("processes")] IReadOnlyList<GuestProcess> Processes)
{
    /// <summary>Seconds since the guest booted, when the list was read (ps's %CPU is CPU time over time alive).</summary>
    [JsonPropertyName("uptime")]
    public double Uptime { get; init; }

    /// <summary>The guest's memory, KiB (ps's %MEM is RSS over it).</summary>
    [JsonPropertyName("memTotalKb")]
    public long MemTotalKb { get; init; }
}

/// <summary>A connection to the container's <paramref name="Port"/> (<c>tcp</c> or <c>udp</c>), made by the tether on the container's bridge address.</summary>
public sealed record PortConnect([property: JsonPropertyName("protocol")] string Protocol, [property: JsonPropertyName("port")] int Port);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, Converters = [typeof(FiniteDoubleConverter)])]
[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(ContainerSpec))]
[JsonSerializable(typeof(NetworkSpec))]
[JsonSerializable(typeof(ExecSpec))]
[JsonSerializable(typeof(StartedMessage))]
[JsonSerializable(typeof(StatsReport))]
[JsonSerializable(typeof(StateReport))]
[JsonSerializable(typeof(ProcessList))]
[JsonSerializable(typeof(FilesRequest))]
[JsonSerializable(typeof(PathStat))]
[JsonSerializable(typeof(ChangeList))]
[JsonSerializable(typeof(LimitsSpec))]
[JsonSerializable(typeof(PortConnect))]
[JsonSerializable(typeof(PeerHostsUpdate))]
public sealed partial class InteractionJson : JsonSerializerContext;

/// <summary>
/// Numbers a guest sends must be finite: <c>1e400</c> reads as infinity, which no figure means and which
/// nothing can write back out (an API answer carrying it would fail as it is serialized).
/// </summary>
public sealed class FiniteDoubleConverter : JsonConverter<double>
{
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetDouble();
        return double.IsFinite(value) ? value : throw new JsonException("a number out of range");
    }

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}

/// <summary>Encoders and decoders of the payloads, so neither side formats bytes by hand.</summary>
public static class Payloads
{
    public static byte[] Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    public static T Json<T>(ReadOnlyMemory<byte> payload, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(payload.Span, type) ?? throw new ProtocolException($"empty {typeof(T).Name}");
        }
        catch (JsonException ex)
        {
            throw new ProtocolException($"invalid {typeof(T).Name}: {ex.Message}");
        }
    }

    public static byte[] Int32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    public static int Int32(ReadOnlyMemory<byte> payload) =>
        payload.Length == 4 ? BinaryPrimitives.ReadInt32BigEndian(payload.Span) : throw new ProtocolException($"expected 4 bytes, got {payload.Length}");

    public static byte[] Size(int rows, int columns)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, checked((ushort)rows));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), checked((ushort)columns));
        return bytes;
    }

    public static (int Rows, int Columns) Size(ReadOnlyMemory<byte> payload) =>
        payload.Length == 4
            ? (BinaryPrimitives.ReadUInt16BigEndian(payload.Span), BinaryPrimitives.ReadUInt16BigEndian(payload.Span[2..]))
            : throw new ProtocolException($"expected 4 bytes, got {payload.Length}");

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(ReadOnlyMemory<byte> payload) => Encoding.UTF8.GetString(payload.Span);
}
