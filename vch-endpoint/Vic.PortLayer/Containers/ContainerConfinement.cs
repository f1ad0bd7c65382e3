using System.Globalization;
using System.Text.RegularExpressions;
using Vic.Interaction;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Containers;

/// <summary><c>--ulimit name=soft:hard</c>; -1 is unlimited.</summary>
public sealed record Ulimit(string Name, long Soft, long Hard);

/// <summary><c>--device host[:container[:permissions]]</c>: a device of the ContainerVM.</summary>
public sealed record DeviceMapping(string PathOnHost, string PathInContainer, string CgroupPermissions);

/// <summary>
/// What the container's processes may do and use inside their ContainerVM: Docker's security and
/// process-limit options, which Linux in the guest enforces as it would under runc on a host. The
/// fields hold what the user asked for (inspect shows them so); <see cref="ToSpec"/> says what the
/// guest applies.
/// </summary>
public sealed partial record ContainerConfinement
{
    public static readonly ContainerConfinement Default = new();

    public IReadOnlyList<string> CapAdd { get; init; } = [];

    public IReadOnlyList<string> CapDrop { get; init; } = [];

    public bool Privileged { get; init; }

    public bool ReadOnlyRoot { get; init; }

    /// <summary><c>--security-opt</c> as given: no-new-privileges, and the unconfined forms a VM needs nothing for.</summary>
    public IReadOnlyList<string> SecurityOpt { get; init; } = [];

    public IReadOnlyList<Ulimit> Ulimits { get; init; } = [];

    /// <summary>/dev/shm's size; 0 for dockerd's 64 MiB.</summary>
    public long ShmSizeBytes { get; init; }

    public IReadOnlyDictionary<string, string> Sysctls { get; init; } = new Dictionary<string, string>();

    /// <summary>At most this many tasks; null or ≤ 0 for no limit.</summary>
    public long? PidsLimit { get; init; }

    public IReadOnlyList<DeviceMapping> Devices { get; init; } = [];

    public int OomScoreAdj { get; init; }

    public string CpusetCpus { get; init; } = "";

    public string CpusetMems { get; init; } = "";

    /// <summary>
    /// <c>--pid</c>, <c>--ipc</c>, <c>--uts</c>, <c>--cgroupns</c> as asked ("" for the default):
    /// the guest has one namespace of each, the VM's, which is the container's own and its "host".
    /// </summary>
    public string PidMode { get; init; } = "";

    public string IpcMode { get; init; } = "";

    public string UtsMode { get; init; } = "";

    public string CgroupnsMode { get; init; } = "";

    /// <summary><c>--isolation</c> as asked: "default" (or nothing) is the only kind, a ContainerVM.</summary>
    public string Isolation { get; init; } = "";

    /// <summary>
    /// <c>--device-cgroup-rule</c>: rules that allow devices. A ContainerVM's devices are all its
    /// container's, so every allow rule already holds; they are checked and kept for inspect.
    /// </summary>
    public IReadOnlyList<string> DeviceCgroupRules { get; init; } = [];

    public const long DefaultShmBytes = 64L << 20;

    private static readonly string[] UlimitNames = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

    /// <summary>The highest vCPU <c>--cpuset-cpus</c> names, plus one: the ContainerVM needs at least that many; 0 when none is named.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int CpusNeeded => CpusetCpus.Length == 0 ? 0 : CpuList(CpusetCpus, "cpus").Max() + 1;

    /// <summary>Checks every field as dockerd does at create, in its words where it has them, naming the flag.</summary>
    public ContainerConfinement Validated()
    {
        var add = Capabilities(CapAdd, "CapAdd");
        var drop = Capabilities(CapDrop, "CapDrop");
        foreach (var option in SecurityOpt)
        {
            SecurityOption(option);
        }

        foreach (var ulimit in Ulimits)
        {
            if (!UlimitNames.Contains(ulimit.Name))
            {
                throw PortLayerException.InvalidParameter($"invalid ulimit type: {ulimit.Name} (--ulimit)");
            }

            if (ulimit.Hard != -1 && (ulimit.Soft == -1 || ulimit.Soft > ulimit.Hard))
            {
                throw PortLayerException.InvalidParameter($"ulimit soft limit must be less than or equal to hard limit: {ulimit.Soft} > {ulimit.Hard} (--ulimit {ulimit.Name})");
            }
        }

        if (ShmSizeBytes < 0)
        {
            throw PortLayerException.InvalidParameter("SHM size can not be less than 0 (--shm-size)");
        }

        foreach (var name in Sysctls.Keys.Where(n => !SysctlName().IsMatch(n)))
        {
            throw PortLayerException.InvalidParameter($"sysctl '{name}' is not a kernel parameter's name (--sysctl)");
        }

        foreach (var device in Devices)
        {
            if (!device.PathOnHost.StartsWith('/') || !device.PathInContainer.StartsWith('/') || device.PathInContainer.Split('/').Contains(".."))
            {
                throw PortLayerException.InvalidParameter($"invalid device mapping: {device.PathOnHost}:{device.PathInContainer}: paths must be absolute (--device)");
            }

            if (device.CgroupPermissions.Length == 0 || device.CgroupPermissions.Any(c => c is not ('r' or 'w' or 'm')))
            {
                throw PortLayerException.InvalidParameter($"invalid device mode: {device.CgroupPermissions} (--device)");
            }
        }

        foreach (var rule in DeviceCgroupRules.Where(r => !DeviceCgroupRule().IsMatch(r)))
        {
            throw PortLayerException.InvalidParameter($"invalid device cgroup rule format: '{rule}' (--device-cgroup-rule)");
        }

        if (OomScoreAdj is < -1000 or > 1000)
        {
            throw PortLayerException.InvalidParameter($"Invalid value {OomScoreAdj}, range for oom score adj is [-1000, 1000]");
        }

        if (CpusetCpus.Length > 0)
        {
            CpuList(CpusetCpus, "cpus");
        }

        if (CpusetMems.Length > 0 && CpuList(CpusetMems, "mems").Any(n => n != 0))
        {
            throw PortLayerException.InvalidParameter($"Requested memory nodes are not available - requested {CpusetMems}, available: 0 (--cpuset-mems: a ContainerVM has one memory node)");
        }

        return this with { CapAdd = add, CapDrop = drop };
    }

    /// <summary>What the guest applies: capabilities by moby's rules, no-new-privileges, limits, CPUs, pids, the devices allowed.</summary>
    public ConfinementSpec ToSpec() => new()
    {
        Capabilities = LinuxCapabilities.Tweak(CapAdd, CapDrop, Privileged),
        NoNewPrivileges = NoNewPrivileges,
        Rlimits = [.. Ulimits.Select(u => new RlimitSpec(u.Name, u.Soft, u.Hard))],
        OomScoreAdj = OomScoreAdj,
        CpusetCpus = CpusetCpus,
        PidsLimit = PidsLimit is > 0 and var limit ? limit : 0,
        DeviceRules = Privileged ? null : DeviceCgroupRules,
    };

    /// <summary><c>no-new-privileges</c>, <c>no-new-privileges=true</c> or <c>:true</c>; the last one given counts.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool NoNewPrivileges =>
        SecurityOpt.Select(SecurityOption).Where(o => o.Key == "no-new-privileges").Select(o => o.Value is "" or "true").LastOrDefault();

    public bool Equals(ContainerConfinement? other) =>
        other is not null
        && CapAdd.SequenceEqual(other.CapAdd) && CapDrop.SequenceEqual(other.CapDrop) && SecurityOpt.SequenceEqual(other.SecurityOpt)
        && Ulimits.SequenceEqual(other.Ulimits) && Devices.SequenceEqual(other.Devices)
        && Sysctls.Count == other.Sysctls.Count && Sysctls.All(s => other.Sysctls.TryGetValue(s.Key, out var v) && v == s.Value)
        && (Privileged, ReadOnlyRoot, ShmSizeBytes, PidsLimit, OomScoreAdj, CpusetCpus, CpusetMems)
            == (other.Privileged, other.ReadOnlyRoot, other.ShmSizeBytes, other.PidsLimit, other.OomScoreAdj, other.CpusetCpus, other.CpusetMems)
        && (PidMode, IpcMode, UtsMode, CgroupnsMode, Isolation) == (other.PidMode, other.IpcMode, other.UtsMode, other.CgroupnsMode, other.Isolation)
        && DeviceCgroupRules.SequenceEqual(other.DeviceCgroupRules);

    public override int GetHashCode() => HashCode.Combine(Privileged, ReadOnlyRoot, ShmSizeBytes, CapAdd.Count, CapDrop.Count);

    private static List<string> Capabilities(IReadOnlyList<string> names, string field) =>
        [.. names.Select(n => LinuxCapabilities.Normalize(n) ?? throw PortLayerException.InvalidParameter($"invalid {field}: unknown capability: \"{n}\""))];

    /// <summary>
    /// One <c>--security-opt</c>. A ContainerVM is confined by its VM; seccomp, AppArmor and SELinux
    /// profiles confine processes on a shared kernel, so only their "off" forms are taken (they are
    /// what the VM has) and a profile is refused by name.
    /// </summary>
    private static KeyValuePair<string, string> SecurityOption(string option)
    {
        if (option == "no-new-privileges")
        {
            return KeyValuePair.Create(option, "");
        }

        var separator = option.IndexOfAny(['=', ':']);
        if (separator <= 0)
        {
            throw PortLayerException.InvalidParameter($"Invalid --security-opt: \"{option}\"");
        }

        var (key, value) = (option[..separator], option[(separator + 1)..]);
        var accepted = key switch
        {
            "no-new-privileges" => value is "true" or "false" ? true : throw PortLayerException.InvalidParameter($"invalid --security-opt 2: \"{option}\""),
            "seccomp" or "apparmor" or "systempaths" => value == "unconfined",
            "label" => value == "disable",
            _ => throw PortLayerException.InvalidParameter($"Invalid --security-opt: \"{option}\""),
        };
        return accepted
            ? KeyValuePair.Create(key, value)
            : throw PortLayerException.InvalidParameter($"--security-opt {key}={(value.Length > 40 ? value[..40] + "..." : value)} is not supported by this VCH: a ContainerVM is confined by its VM; {key} takes only \"{(key == "label" ? "disable" : "unconfined")}\"");
    }

    /// <summary>A cpuset list (<c>0-2,4</c>) as numbers; dockerd's message for a malformed one.</summary>
    private static List<int> CpuList(string list, string what)
    {
        var numbers = new List<int>();
        foreach (var part in list.Split(','))
        {
            var bounds = part.Split('-');
            if (bounds.Length > 2 || !bounds.All(b => int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw PortLayerException.InvalidParameter($"Invalid value {list} for cpuset {what}");
            }

            var first = int.Parse(bounds[0], CultureInfo.InvariantCulture);
            var last = int.Parse(bounds[^1], CultureInfo.InvariantCulture);
            if (last < first || last > 1023)
            {
                throw PortLayerException.InvalidParameter($"Invalid value {list} for cpuset {what}");
            }

            numbers.AddRange(Enumerable.Range(first, last - first + 1));
        }

        return numbers;
    }

    [GeneratedRegex(@"^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$")]
    private static partial Regex DeviceCgroupRule();

    [GeneratedRegex(@"^[a-z0-9_]+(\.[a-zA-Z0-9_\-]+)+$")]
    private static partial Regex SysctlName();
}
