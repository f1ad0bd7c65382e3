using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// What the tether sets up in the guest, once per container, for the confinement vic-exec then
/// applies per process: kernel parameters (<c>--sysctl</c>), a cgroup with the pids limit, and
/// the devices the container asked to see.
/// </summary>
internal static class GuestConfinement
{
    private const string CgroupRoot = "/sys/fs/cgroup";

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

        Directory.CreateDirectory(CgroupRoot);
        if (!File.Exists($"{CgroupRoot}/cgroup.controllers"))
        {
            Native.Check(Native.mount("cgroup2", CgroupRoot, "cgroup2", Native.MsNosuid | Native.MsNodev | Native.MsNoexec, null), "mount cgroup2");
        }

        File.WriteAllText($"{CgroupRoot}/cgroup.subtree_control", "+pids");
        var container = Directory.CreateDirectory($"{CgroupRoot}/container").FullName;
        File.WriteAllText($"{container}/pids.max", limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return container;
    }

    /// <summary>
    /// Each <c>--device</c> must be a device of the guest; one asked for at another path gets a node
    /// there (the container's /dev is the VM's). The messages are dockerd's.
    /// </summary>
    public static void AddDevices(string root, IReadOnlyList<DeviceSpec> devices)
    {
        foreach (var device in devices)
        {
            if (Native.stat(device.PathOnHost, out var stat) != 0)
            {
                throw new IOException($"error gathering device information while adding custom device \"{device.PathOnHost}\": {Native.LastError().ToLowerInvariant()}");
            }

            if (stat.Type is not (0x2000 or 0x6000))
            {
                throw new IOException($"error gathering device information while adding custom device \"{device.PathOnHost}\": not a device node");
            }

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
}
