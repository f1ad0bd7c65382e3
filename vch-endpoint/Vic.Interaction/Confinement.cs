using System.Text.Json.Serialization;
namespace Vic.Interaction;

/// <summary>A resource limit of every container process (<c>--ulimit</c>): setrlimit's name without RLIMIT_, -1 for unlimited.</summary>
public sealed record RlimitSpec([property: JsonPropertyName("name")] string Name, [property: JsonPropertyName("soft")] long Soft, [property: JsonPropertyName("hard")] long Hard);

/// <summary>
/// A device of the guest (<c>--device</c>), where the container sees it, and what its processes may
/// do with it (the devices cgroup's <c>r</c>, <c>w</c>, <c>m</c>; an endpoint that predates them sends none: <c>rwm</c>).
/// </summary>
public sealed record DeviceSpec(
    [property: JsonPropertyName("pathOnHost")] string PathOnHost,
    [property: JsonPropertyName("pathInContainer")] string PathInContainer,
    [property: JsonPropertyName("permissions")] string Permissions = "rwm");

/// <summary>
/// What Linux in the guest holds every container process to, as runc holds a container's: its
/// capability bounding set, no-new-privileges, resource limits, OOM score, CPUs and a pids limit.
/// The main process and each exec session get the same (an exec with <c>--privileged</c> keeps every capability).
/// </summary>
public sealed record ConfinementSpec
{
    /// <summary>The capabilities processes keep (CAP_ names, <see cref="LinuxCapabilities"/>); null keeps them all.</summary>
    [JsonPropertyName("capabilities")]
    public IReadOnlyList<string>? Capabilities { get; init; }

    [JsonPropertyName("noNewPrivileges")]
    public bool NoNewPrivileges { get; init; }

    [JsonPropertyName("rlimits")]
    public IReadOnlyList<RlimitSpec> Rlimits { get; init; } = [];

    [JsonPropertyName("oomScoreAdj")]
    public int OomScoreAdj { get; init; }

    /// <summary><c>--cpuset-cpus</c> in its list form (<c>0-1,3</c>); empty for every vCPU.</summary>
    [JsonPropertyName("cpusetCpus")]
    public string CpusetCpus { get; init; } = "";

    /// <summary><c>--pids-limit</c>: at most this many processes and threads; 0 for no limit.</summary>
    [JsonPropertyName("pidsLimit")]
    public long PidsLimit { get; init; }

    /// <summary>
    /// The devices cgroup rules (<c>--device-cgroup-rule</c>, as <c>c 7:128 rwm</c>) allowed beyond
    /// dockerd's default devices and the container's <c>--device</c>s, every other device denied;
    /// null allows every device (<c>--privileged</c>, or an endpoint that predates the rules).
    /// </summary>
    [JsonPropertyName("deviceRules")]
    public IReadOnlyList<string>? DeviceRules { get; init; }
}

/// <summary><c>docker update</c> of a running container: the memory its processes may use together (memory.max of their cgroup); 0 for no limit.</summary>
public sealed record LimitsSpec([property: JsonPropertyName("memoryBytes")] long MemoryBytes);

/// <summary>Linux's capabilities by number, and Docker's rules for which a container gets.</summary>
public static class LinuxCapabilities
{
    /// <summary>Every capability, index = its number (Linux 6.1).</summary>
    public static readonly IReadOnlyList<string> All =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>What dockerd gives a container that asks for nothing (moby's oci/caps/defaults.go).</summary>
    public static readonly IReadOnlyList<string> Defaults =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    /// <summary>The capability's number; -1 for a name Linux does not know.</summary>
    public static int NumberOf(string capability)
    {
        for (var i = 0; i < All.Count; i++)
        {
            if (All[i] == capability)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// <c>net_admin</c> or <c>CAP_NET_ADMIN</c> as <c>CAP_NET_ADMIN</c>, <c>all</c> as <c>ALL</c>;
    /// null for a name Linux does not know.
    /// </summary>
    public static string? Normalize(string name)
    {
        var upper = name.Trim().ToUpperInvariant();
        if (upper == "ALL")
        {
            return upper;
        }

        upper = upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper;
        return All.Contains(upper) ? upper : null;
    }

    /// <summary>
    /// The capabilities a container gets, by moby's TweakCapabilities: all when privileged; with ALL
    /// added, all but the dropped; with ALL dropped, only the added; else the defaults less the
    /// dropped plus the added. Names must be normalized.
    /// </summary>
    public static IReadOnlyList<string> Tweak(IReadOnlyList<string> add, IReadOnlyList<string> drop, bool privileged)
    {
        if (privileged)
        {
            return All;
        }

        if (add.Contains("ALL"))
        {
            return [.. All.Where(c => !drop.Contains(c))];
        }

        if (drop.Contains("ALL"))
        {
            return [.. add.Distinct()];
        }

        return [.. Defaults.Where(c => !drop.Contains(c)).Concat(add).Distinct()];
    }
}
