using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// Turns the VM's disks into the container's root: each layer disk mounted read-only, stacked with
/// overlayfs over the scratch disk, with /proc, /sys, /dev, volumes (disks and NFS), host folders,
/// hostname, /etc/hosts and /etc/resolv.conf in place.
/// </summary>
internal static partial class RootFilesystem
{
    private const string Mounts = "/mnt/vic";

    /// <summary>Prepares the root in the VM; returns where its parts are.</summary>
    public static RootLayout Prepare(ContainerSpec spec, TimeSpan diskWait)
    {
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        var devices = WaitForDisks(spec.Disks, diskWait);
        var diskWaitTook = waiting.Elapsed;
        var steps = new StepClock();
        var layers = spec.Disks.Where(d => d.Role == "layer").OrderBy(d => d.Index).ToList();
        var lower = new List<string>();
        foreach (var layer in layers)
        {
            var target = Directory.CreateDirectory($"{Mounts}/layers/{layer.Index}").FullName;
            Native.Check(Native.mount(devices[layer.Serial], target, "ext4", Native.MsRdonly, null), $"mount layer {layer.Index}");
            lower.Insert(0, target);
        }

        steps.Mark("layers");
        var scratch = Directory.CreateDirectory($"{Mounts}/scratch").FullName;
        if (spec.Disks.FirstOrDefault(d => d.Role == "scratch") is { } disk)
        {
            Native.Check(Native.mount(devices[disk.Serial], scratch, "ext4", 0, null), "mount scratch");
        }
        else
        {
            Native.Check(Native.mount("tmpfs", scratch, "tmpfs", 0, null), "mount scratch tmpfs");
        }

        steps.Mark("scratch");
        Directory.CreateDirectory($"{scratch}/upper");
        Directory.CreateDirectory($"{scratch}/work");
        if (lower.Count == 0)
        {
            lower.Add(Directory.CreateDirectory($"{Mounts}/empty").FullName);
        }

        var root = Directory.CreateDirectory($"{Mounts}/root").FullName;
        Native.Check(
            Native.mount("overlay", root, "overlay", 0, $"lowerdir={string.Join(':', lower)},upperdir={scratch}/upper,workdir={scratch}/work"),
            "mount overlay");
        steps.Mark("overlay");

        foreach (var volume in spec.Disks.Where(d => d.Role == "volume" && d.Path is not null))
        {
            var staging = Directory.CreateDirectory($"{Mounts}/volumes/{volume.Index}").FullName;
            Native.Check(Native.mount(devices[volume.Serial], staging, "ext4", volume.ReadOnly ? Native.MsRdonly : 0, null), $"mount volume {volume.Path}");
            BindVolume(root, staging, volume.Path!, volume.ReadOnly);
        }

        MountNfsVolumes(root, spec.NfsVolumes, diskWait);
        MountShares(root, spec.Shares, diskWait);
        MountTmpfs(root, spec.Tmpfs);
        steps.Mark("volumes");
        MountSystem(root, spec);
        GuestConfinement.AddDevices(root, spec.Devices);
        steps.Mark("system");
        WriteIdentity(root, spec);
        if (spec.Hostname.Length > 0)
        {
            Native.sethostname(spec.Hostname, spec.Hostname.Length);
        }

        if (spec.ReadOnlyRoot)
        {
            // dockerd's identity files are bind mounts that stay writable in a read-only root: the same here.
            foreach (var name in IdentityFiles)
            {
                var kept = Path.Combine(Directory.CreateDirectory($"{Mounts}/identity").FullName, name);
                File.Copy(Path.Combine(root, "etc", name), kept, overwrite: true);
                Native.Check(Native.mount(kept, Path.Combine(root, "etc", name), null, Native.MsBind, null), $"bind /etc/{name}");
            }

            // The mount point only (a bind remount): what is mounted in it (volumes, tmpfs, /dev) keeps its own flags.
            Native.Check(Native.mount(null, root, null, Native.MsBind | Native.MsRemount | Native.MsRdonly, null), "read-only root");
        }

        steps.Mark("identity");
        return new RootLayout(root, $"{scratch}/upper", [.. lower.Where(l => !l.EndsWith("/empty", StringComparison.Ordinal))]) { DiskWait = diskWaitTook, Steps = steps.ToString() };
    }

    /// <summary>
    /// Mounts <c>--tmpfs</c> paths as dockerd does: <c>noexec,nosuid,nodev</c> unless the options
    /// say <c>exec</c>, <c>suid</c> or <c>dev</c>; <c>ro</c>/<c>rw</c> as flags; the rest (size,
    /// mode, uid, gid, nr_inodes) for tmpfs itself.
    /// </summary>
    private static void MountTmpfs(string root, IReadOnlyList<TmpfsSpec> tmpfs)
    {
        foreach (var mount in tmpfs)
        {
            var (flags, data) = TmpfsOptions(mount.Options);
            var target = root + mount.Path;
            Directory.CreateDirectory(target);
            Native.Check(Native.mount("tmpfs", target, "tmpfs", flags, data.Length > 0 ? data : null), $"mount tmpfs {mount.Path}");
        }
    }

    internal static (uint Flags, string Data) TmpfsOptions(string options)
    {
        uint flags = Native.MsNoexec | Native.MsNosuid | Native.MsNodev;
        var data = new List<string>();
        foreach (var option in options.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (option)
            {
                case "ro": flags |= Native.MsRdonly; break;
                case "rw": flags &= ~Native.MsRdonly; break;
                case "exec": flags &= ~Native.MsNoexec; break;
                case "noexec": flags |= Native.MsNoexec; break;
                case "suid": flags &= ~Native.MsNosuid; break;
                case "nosuid": flags |= Native.MsNosuid; break;
                case "dev": flags &= ~Native.MsNodev; break;
                case "nodev": flags |= Native.MsNodev; break;
                default: data.Add(option); break;
            }
        }

        return (flags, string.Join(',', data));
    }

    private static readonly string[] IdentityFiles = ["hostname", "hosts", "resolv.conf"];

    /// <summary>Writes /etc/hostname, /etc/hosts and /etc/resolv.conf into the container's root.</summary>
    public static void WriteIdentity(string root, ContainerSpec spec)
    {
        var etc = Directory.CreateDirectory(Path.Combine(root, "etc")).FullName;
        var hostname = spec.Hostname.Length > 0 ? spec.Hostname : spec.Id[..Math.Min(12, spec.Id.Length)];
        File.WriteAllText(Path.Combine(etc, "hostname"), hostname + "\n");
        var hosts = new List<string>
        {
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            $"{spec.Network?.HostAddress ?? "127.0.1.1"}\t{(spec.Domainname.Length > 0 ? $"{hostname}.{spec.Domainname} " : "")}{hostname}",
        };
        hosts.AddRange(spec.ExtraHosts);
        hosts.AddRange(spec.PeerHosts);
        File.WriteAllText(Path.Combine(etc, "hosts"), string.Join('\n', hosts) + "\n");
        var resolv = spec.Dns.Select(d => $"nameserver {d}").ToList();
        if (spec.DnsSearch.Count > 0)
        {
            resolv.Add("search " + string.Join(' ', spec.DnsSearch));
        }

        if (spec.DnsOptions.Count > 0)
        {
            resolv.Add("options " + string.Join(' ', spec.DnsOptions));
        }

        File.WriteAllText(Path.Combine(etc, "resolv.conf"), string.Join('\n', resolv) + (resolv.Count > 0 ? "\n" : ""));
    }

    /// <summary>
    /// The peers changed: in /etc/hosts, the lines written for the peers before are taken out (each
    /// once, wherever it is now) and the new ones added; whatever else is there, the process's own
    /// edits included, stays. Written in place: in a read-only root the file is a writable bind mount.
    /// </summary>
    public static void ReplacePeerHosts(string root, IReadOnlyList<string> previous, IReadOnlyList<string> next)
    {
        var path = Path.Combine(root, "etc", "hosts");
        var lines = File.Exists(path) ? File.ReadAllText(path).Split('\n').ToList() : [];
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        foreach (var line in previous)
        {
            lines.Remove(line);
        }

        lines.AddRange(next);
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
    }

    /// <summary>
    /// A root as <see cref="Prepare"/> makes one, with no disks (tmpfs under an overlay), the system
    /// mounts and the spec's files: what a template rehearses. <see cref="TidyRehearsal"/> undoes it.
    /// </summary>
    public static RootLayout Rehearse(ContainerSpec spec)
    {
        var scratch = Directory.CreateDirectory($"{Rehearsal}/scratch").FullName;
        if (spec.Disks.Any(d => d.Role == "scratch"))
        {
            // A ready clone's rehearsal has an ext4 scratch disk like a start's: its mount, the
            // overlay over it and the files written through it are code this VM then has translated.
            var device = WaitForScsiTarget(Frame.RehearsalDiskTarget, TimeSpan.FromSeconds(15));
            Native.Check(Native.mount(device, scratch, "ext4", 0, null), "mount the rehearsal's scratch disk");
        }
        else
        {
            Native.Check(Native.mount("tmpfs", scratch, "tmpfs", 0, null), "mount the rehearsal's scratch");
        }

        Directory.CreateDirectory($"{scratch}/upper");
        Directory.CreateDirectory($"{scratch}/work");
        var lower = Directory.CreateDirectory($"{Rehearsal}/empty").FullName;
        var root = Directory.CreateDirectory($"{Rehearsal}/root").FullName;
        Native.Check(Native.mount("overlay", root, "overlay", 0, $"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work"), "mount the rehearsal's overlay");
        MountSystem(root, spec);
        WriteIdentity(root, spec);
        return new RootLayout(root, $"{scratch}/upper", [lower]);
    }

    public static void TidyRehearsal()
    {
        foreach (var mount in new[] { "root/dev", "root/sys", "root/proc", "root", "scratch" })
        {
            Native.Check(Native.umount2($"{Rehearsal}/{mount}", Native.MntDetach), $"unmount the rehearsal's {mount}");
        }

        Directory.Delete(Rehearsal, recursive: true);
    }

    private const string Rehearsal = "/mnt/rehearsal";

    /// <summary>Docker's /dev/shm when the container asks for no size: 64 MiB.</summary>
    private const long DefaultShmBytes = 64L << 20;

    private static void MountSystem(string root, ContainerSpec spec)
    {
        foreach (var dir in new[] { "proc", "sys", "dev", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(root, dir));
        }

        Native.Check(Native.mount("proc", $"{root}/proc", "proc", 0, null), "mount /proc");

        // Read-only as under runc, unless privileged.
        Native.Check(Native.mount("sysfs", $"{root}/sys", "sysfs", spec.Privileged ? 0 : Native.MsRdonly, null), "mount /sys");

        // The VM is the container's alone: its /dev (with /dev/pts) is the container's /dev; /dev/shm
        // is a tmpfs of the size asked for, as dockerd makes it.
        Native.Check(Native.mount("/dev", $"{root}/dev", null, Native.MsBind | Native.MsRec, null), "bind /dev");
        var shm = Directory.CreateDirectory($"{root}/dev/shm").FullName;
        var size = spec.ShmSizeBytes > 0 ? spec.ShmSizeBytes : DefaultShmBytes;
        Native.Check(
            Native.mount("shm", shm, "tmpfs", Native.MsNosuid | Native.MsNodev | Native.MsNoexec, $"mode=1777,size={size.ToString(System.Globalization.CultureInfo.InvariantCulture)}"),
            "mount /dev/shm");
    }

    /// <summary>SCSI disks of bus 0, LUN 0, by target: /sys/block/sdX/device links to .../H:C:T:L.</summary>
    private static Dictionary<int, string> ScsiDisksByTarget()
    {
        var disks = new Dictionary<int, string>();
        foreach (var block in Directory.Exists("/sys/block") ? Directory.EnumerateDirectories("/sys/block", "sd*") : [])
        {
            var link = new FileInfo(Path.Combine(block, "device")).LinkTarget;
            var address = link is null ? [] : Path.GetFileName(link).Split(':');
            if (address.Length == 4 && address[1] == "0" && address[3] == "0" && int.TryParse(address[2], System.Globalization.CultureInfo.InvariantCulture, out var target))
            {
                disks[target] = "/dev/" + Path.GetFileName(block);
            }
        }

        return disks;
    }

    private static string WaitForScsiTarget(int target, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            if (ScsiDisksByTarget().TryGetValue(target, out var device))
            {
                return device;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new IOException($"no disk at SCSI target {target}");
            }

            Thread.Sleep(20);
        }
    }

    /// <summary>Finds each disk's device (a virtio-blk disk by its serial, a SCSI disk by its target), waiting for hot-added disks to appear.</summary>
    private static Dictionary<string, string> WaitForDisks(IReadOnlyList<DiskSpec> disks, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        var rounds = 0;
        while (true)
        {
            var found = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var block in Directory.Exists("/sys/block") ? Directory.EnumerateDirectories("/sys/block") : [])
            {
                var serialFile = Path.Combine(block, "serial");
                if (File.Exists(serialFile))
                {
                    found[File.ReadAllText(serialFile).Trim()] = "/dev/" + Path.GetFileName(block);
                }
            }

            // SCSI disks (vSphere's pvscsi, QEMU's virtio-scsi) are found by place, not serial: the
            // backend puts the spec's disk i at target i of the first controller (7 is the controller's own).
            var scsi = ScsiDisksByTarget();
            for (var i = 0; i < disks.Count; i++)
            {
                if (!found.ContainsKey(disks[i].Serial) && scsi.TryGetValue(i < 7 ? i : i + 1, out var device))
                {
                    found[disks[i].Serial] = device;
                }
            }

            var missing = disks.Where(d => !found.ContainsKey(d.Serial)).Select(d => d.Serial).ToList();
            if (missing.Count == 0)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new IOException($"disks not found in the VM: {string.Join(", ", missing)}");
            }

            // A controller that does not announce a hot-added disk (QEMU's pvscsi restored in an
            // instant clone drops the message) has its missing targets scanned for.
            if (++rounds % 25 == 0)
            {
                ScanScsiTargets([.. Enumerable.Range(0, disks.Count).Where(i => missing.Contains(disks[i].Serial)).Select(i => i < 7 ? i : i + 1)]);
            }

            Thread.Sleep(20);
        }
    }

    private static void ScanScsiTargets(IReadOnlyList<int> targets)
    {
        foreach (var host in Directory.Exists("/sys/class/scsi_host") ? Directory.EnumerateDirectories("/sys/class/scsi_host") : [])
        {
            foreach (var target in targets)
            {
                try
                {
                    File.WriteAllText(Path.Combine(host, "scan"), $"0 {target} 0");
                }
                catch (IOException)
                {
                    // No such target on this host, or a host that cannot be scanned.
                }
            }
        }
    }
}

/// <summary>Milliseconds between marks, named: "layers 40 ms, scratch 12 ms".</summary>
internal sealed class StepClock
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly List<string> _steps = [];
    private TimeSpan _last;

    public void Mark(string step)
    {
        var now = _clock.Elapsed;
        _steps.Add($"{step} {(now - _last).TotalMilliseconds:0} ms");
        _last = now;
    }

    public override string ToString() => string.Join(", ", _steps);
}
