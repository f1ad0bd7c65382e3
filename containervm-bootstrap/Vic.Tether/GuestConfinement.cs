using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// What the tether sets up in the guest, once per container, for the confinement vic-exec then
/// applies per process: kernel parameters (<c>--sysctl</c>), a cgroup with the pids limit, and
/// the devices the container asked to see and may use.
/// </summary>
internal static class GuestConfinement
{
    private const string CgroupRoot = "/sys/fs/cgroup";

    /// <summary>
    /// Where the tether mounts the cgroup v1 devices hierarchy: the devices controller has no
    /// cgroup v2 files (there it is an eBPF program, which vic-exec would have to load), and v1's
    /// list is what runc keeps on hosts that have it. Outside the container's root.
    /// </summary>
    private const string DevicesRoot = "/run/vic/devices-cgroup";

    /// <summary>
    /// What runc allows every container that is not privileged (runc's AllowedDevices, which
    /// dockerd takes): making any node, and using null, zero, full, random, urandom, tty,
    /// console, the pseudo-terminals, ptmx and tun.
    /// </summary>
    private static readonly string[] DefaultDeviceRules =
    [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm",
        "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
    ];

    /// <summary>
    /// A devices cgroup every container process joins: every device denied but dockerd's defaults,
    /// the container's <c>--device</c>s (with their permissions) and its <paramref name="rules"/>;
    /// null when <paramref name="rules"/> is null (privileged: every device of the VM is the container's).
    /// </summary>
    public static string? DevicesCgroup(IReadOnlyList<string>? rules, IReadOnlyList<DeviceSpec> devices)
    {
        if (rules is null)
        {
            return null;
        }

        Directory.CreateDirectory(DevicesRoot);
        if (!File.Exists($"{DevicesRoot}/devices.list"))
        {
            Native.Check(Native.mount("cgroup", DevicesRoot, "cgroup", Native.MsNosuid | Native.MsNodev | Native.MsNoexec, "devices"), "mount the devices cgroup");
        }

        var container = Directory.CreateDirectory($"{DevicesRoot}/container").FullName;

        // "a" empties the list, whatever an earlier process of this VM (a template's rehearsal) left.
        File.WriteAllText($"{container}/devices.deny", "a");
        var allowed = DefaultDeviceRules.Concat(devices.Select(DeviceRule)).Concat(rules);
        foreach (var rule in allowed)
        {
            try
            {
                File.WriteAllText($"{container}/devices.allow", rule);
            }
            catch (IOException ex)
            {
                throw new IOException($"device cgroup rule \"{rule}\" (--device-cgroup-rule): {ex.Message}", ex);
            }
        }

        return container;
    }

    /// <summary>
    /// The container's /sys/fs/cgroup as runc shows it on a cgroup v1 host: a read-only tmpfs whose
    /// <c>devices</c> is the container's own devices cgroup (its <c>devices.list</c> the rules that hold).
    /// </summary>
    public static void ShowDevicesCgroup(string root, string cgroup)
    {
        var view = $"{root}/sys/fs/cgroup";
        Native.Check(Native.mount("tmpfs", view, "tmpfs", Native.MsNosuid | Native.MsNodev | Native.MsNoexec, "mode=755"), "mount /sys/fs/cgroup");
        Directory.CreateDirectory($"{view}/devices");
        Native.Check(Native.mount(cgroup, $"{view}/devices", null, Native.MsBind, null), "bind /sys/fs/cgroup/devices");
        Native.Check(Native.mount(null, $"{view}/devices", null, Native.MsRemount | Native.MsBind | Native.MsRdonly | Native.MsNosuid | Native.MsNodev | Native.MsNoexec, null), "make /sys/fs/cgroup/devices read-only");
        Native.Check(Native.mount(null, view, null, Native.MsRemount | Native.MsRdonly | Native.MsNosuid | Native.MsNodev | Native.MsNoexec, "mode=755"), "make /sys/fs/cgroup read-only");
    }

    /// <summary>The rule that lets the container use one <c>--device</c>: its type and number, as the guest has it.</summary>
    private static string DeviceRule(DeviceSpec device)
    {
        var stat = DeviceNode(device);
        var type = stat.Type == 0x6000 ? 'b' : 'c';
        var major = (uint)(((stat.Rdev >> 32) & 0xfffff000) | ((stat.Rdev >> 8) & 0xfff));
        var minor = (uint)(((stat.Rdev >> 12) & 0xffffff00) | (stat.Rdev & 0xff));
        return FormattableString.Invariant($"{type} {major}:{minor} {device.Permissions}");
    }

    /// <summary>Writes each parameter under /proc/sys; the VM is the container's, so any of them may be set.</summary>
    public static void ApplySysctls(IReadOnlyDictionary<string, string> sysctls)
    {
        foreach (var (name, value) in sysctls)
        {
            var path = "/proc/sys/" + name.Replace('.', '/');
            if (name.Contains("..", StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal) || !File.Exists(path))
            {
                throw new IOException($"sysctl \"{name}\" is not known to the ContainerVM's kernel (--sysctl)");
            }

            try
            {
                File.WriteAllText(path, value);
            }
            catch (IOException ex)
            {
                throw new IOException($"sysctl \"{name}={value}\" (--sysctl): {ex.Message}", ex);
            }
        }
    }

    /// <summary>A cgroup (v2) every container process joins, holding at most <paramref name="limit"/> tasks; null when there is no limit.</summary>
    public static string? PidsCgroup(long limit)
    {
        if (limit <= 0)
        {
            return null;
        }

        var container = ContainerCgroup();
        File.WriteAllText($"{container}/pids.max", limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return container;
    }

    /// <summary>
    /// <c>docker update -m</c> of a running container: its processes, moved into the container's
    /// cgroup if they are not there yet, may use at most <paramref name="bytes"/> together (0: no limit).
    /// </summary>
    public static string LimitMemory(long bytes)
    {
        var container = ContainerCgroup();
        var procs = $"{container}/cgroup.procs";
        foreach (var pid in ContainerProcesses())
        {
            try
            {
                File.WriteAllText(procs, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
                // It ended meanwhile.
            }
        }

        File.WriteAllText($"{container}/memory.max", bytes > 0 ? bytes.ToString(System.Globalization.CultureInfo.InvariantCulture) : "max");
        return container;
    }

    /// <summary>/sys/fs/cgroup/container, with the pids and memory controllers: made the first time it is needed.</summary>
    private static string ContainerCgroup()
    {
        Directory.CreateDirectory(CgroupRoot);
        if (!File.Exists($"{CgroupRoot}/cgroup.controllers"))
        {
            Native.Check(Native.mount("cgroup2", CgroupRoot, "cgroup2", Native.MsNosuid | Native.MsNodev | Native.MsNoexec, null), "mount cgroup2");
        }

        File.WriteAllText($"{CgroupRoot}/cgroup.subtree_control", "+pids +memory");
        return Directory.CreateDirectory($"{CgroupRoot}/container").FullName;
    }

    /// <summary>Every user-space process but the tether (PID 1): in a VM, the container's.</summary>
    private static IEnumerable<int> ContainerProcesses()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || pid <= 2)
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText($"{directory}/stat");
            }
            catch (IOException)
            {
                continue;
            }

            // Kernel threads are kthreadd's (2) children; the parent pid is the field after the state.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && fields[1] != "2")
            {
                yield return pid;
            }
        }
    }

    /// <summary>
    /// Each <c>--device</c> must be a device of the guest; one asked for at another path gets a node
    /// there (the container's /dev is the VM's). The messages are dockerd's.
    /// </summary>
    public static void AddDevices(string root, IReadOnlyList<DeviceSpec> devices)
    {
        foreach (var device in devices)
        {
            var stat = DeviceNode(device);
            var target = root + device.PathInContainer;
            if (device.PathInContainer == device.PathOnHost && device.PathOnHost.StartsWith("/dev/", StringComparison.Ordinal))
            {
                continue; // already there: the container's /dev is the VM's
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Delete(target);
            Native.Check(Native.mknod(target, stat.Mode, stat.Rdev), $"mknod {device.PathInContainer}");
        }
    }

    /// <summary>The guest's node a <c>--device</c> names; a path that is missing or no device node is refused in dockerd's words.</summary>
    private static Native.FileStat DeviceNode(DeviceSpec device)
    {
        if (Native.stat(device.PathOnHost, out var stat) != 0)
        {
            throw new IOException($"error gathering device information while adding custom device \"{device.PathOnHost}\": {Native.LastError().ToLowerInvariant()}");
        }

        return stat.Type is 0x2000 or 0x6000
            ? stat
            : throw new IOException($"error gathering device information while adding custom device \"{device.PathOnHost}\": not a device node");
    }
}
