using System.Globalization;
using System.Text.Json.Nodes;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// The QEMU command line of a ContainerVM. Everything that is part of the machine (devices, memory,
/// CPUs) must be the same for a template and its clones; paths of sockets and disks may differ.
/// </summary>
internal static class QemuCommand
{
    /// <summary>Changes whenever the machine's devices or how a template is made change, so older templates are not restored into it.</summary>
    public const int MachineLayout = 10;

    /// <summary>
    /// The public NIC as QEMU's user-mode network (slirp) addresses it: the guest's address, the
    /// way out, and slirp's DNS forwarder, which asks the host's resolvers.
    /// </summary>
    public static readonly PublicNic PublicNic = new("10.0.2.15/24", "10.0.2.2", ["10.0.2.3"]);

    /// <summary>Host folders one ContainerVM can share: one PCIe root port each.</summary>
    public const int MaxShares = 8;

    /// <summary>The root port share i is plugged into.</summary>
    public static string SharePort(int index) => $"rp-share-{index}";

    /// <summary>The SCSI target of a spec's disk i: target 7 is the controller's own, as on vSphere, and the tether skips it too.</summary>
    public static int ScsiTarget(int index) => index < 7 ? index : index + 1;

    /// <summary>The targets of a start's disks, in spec order.</summary>
    public static Dictionary<string, int> ScsiTargets(IReadOnlyList<DiskAttachment> disks) =>
        disks.Select((d, i) => (d.Id, Target: ScsiTarget(i))).ToDictionary(d => d.Id, d => d.Target);

    /// <summary>
    /// A disk as a LUN of the machine's SCSI controller. One description serves a cold boot and a
    /// clone: QEMU takes the same JSON object after <c>-device</c> and as QMP's <c>device_add</c>.
    /// </summary>
    public static JsonObject ScsiDisk(DiskAttachment disk, int target) => new()
    {
        ["driver"] = "scsi-hd",
        ["bus"] = "scsi0.0",
        ["scsi-id"] = target,
        ["lun"] = 0,
        ["drive"] = $"d-{disk.Id}",
        ["serial"] = disk.Id,
        ["id"] = $"dev-{disk.Id}",

        // A datastore that fills up is an error the guest sees (the container's write fails), not a
        // VM that QEMU pauses (its default for ENOSPC) and that then answers nothing.
        ["werror"] = "report",
        ["rerror"] = "report",
    };

    /// <param name="incoming">True for a clone: QEMU waits for its device state (<c>-incoming defer</c>), which the backend then restores over QMP.</param>
    public static List<string> Build(QemuBackendOptions options, VmFolder folder, VmResources resources, string accelerator, IReadOnlyList<DiskAttachment> disks, GuestRam ram, bool incoming = false, NicBackends? nics = null, IReadOnlyList<SharedFolder>? shares = null)
    {
        var args = new List<string>
        {
            "-name", "vic-" + System.IO.Path.GetFileName(folder.Path),
            // q35, not the i440FX pc: the i440FX's ACPI builds its PCI interrupt routing table in an
            // AML loop, 85 ms per device at boot under emulation; q35's is a constant. No PS/2
            // controller, VMware backdoor port or SMBus: nothing in a ContainerVM uses them.
            "-machine", "q35,memory-backend=ram,i8042=off,vmport=off,smbus=off",
            "-accel", accelerator == "tcg" ? $"tcg,tb-size={options.TcgTranslationCacheMiB}" : accelerator,
            // Every feature the accelerator has, RDRAND among them (the guest's random generator is
            // ready from the kernel's first steps). On qemu64 (SSE3 at most) a cold boot to the
            // tether took 0.3-0.4 s longer and a clone 0.05-0.1 s longer under TCG.
            "-cpu", "max",
            "-smp", resources.Cpus.ToString(CultureInfo.InvariantCulture),
            "-m", $"{resources.MemoryBytes >> 20}M",

            "-object", ram.Backend(resources),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-daemonize", "-pidfile", folder.PidFile,
            "-kernel", options.Kernel, "-initrd", options.Initramfs, "-append", options.CommandLine,
            "-serial", $"file:{folder.Console}",
            "-qmp", $"unix:{folder.Qmp},server=on,wait=off",
            "-chardev", $"socket,id=vic,path={folder.Channel},server=on,wait=off",
            "-device", "virtio-serial-pci,id=vser",
            "-device", "virtserialport,bus=vser.0,chardev=vic,name=vic.channel",

            // Both NICs are part of the machine, in this order (eth0, eth1), so templates have them
            // too; only what they are plugged into differs from VM to VM.
            "-netdev", nics?.Bridge(folder) ?? "hubport,id=nb,hubid=0",
            "-device", "virtio-net-pci,netdev=nb,mac=52:54:00:56:49:01,id=nic-bridge",
            "-netdev", nics?.Public() ?? "hubport,id=np,hubid=1",
            "-device", "virtio-net-pci,netdev=np,mac=52:54:00:56:49:02,id=nic-public",

            // Every disk is a LUN of one SCSI controller, as on vSphere: adding one to a clone is a
            // SCSI rescan, not a PCI hot-plug (under emulation a PCI device's ACPI interrupt routing
            // alone is 85 ms).
            "-device", "virtio-scsi-pci,id=scsi0",

            // An entropy source from boot on: without one the guest's random generator waits about
            // a second for interrupt timings, and the tether's .NET start waits with it. Clones keep
            // drawing fresh host entropy through it too.
            "-object", "rng-random,id=rng0,filename=/dev/urandom",
            "-device", "virtio-rng-pci,rng=rng0",
        };

        // PCIe hot-plug goes into root ports, part of the machine so clones have them: one for each
        // host folder a container may share (virtiofs devices are added to a clone after its restore).
        for (var i = 0; i < MaxShares; i++)
        {
            args.Add("-device");
            args.Add($"pcie-root-port,id={SharePort(i)},chassis={i + 1},slot={i + 1}");
        }

        for (var i = 0; i < disks.Count; i++)
        {
            var disk = disks[i];
            args.Add("-drive");
            args.Add($"if=none,id=d-{disk.Id},file={disk.Path},format=vmdk,readonly={(disk.ReadOnly ? "on" : "off")},file.locking=off");
            args.Add("-device");
            args.Add(ScsiDisk(disk, ScsiTarget(i)).ToJsonString());
        }

        args.AddRange(SharedFolders.BootArguments(folder, shares ?? []));
        if (incoming)
        {
            args.Add("-incoming");
            args.Add("defer");
        }

        return args;
    }
}

/// <summary>
/// Where a VM's RAM lives. A template's RAM is a file it shares (its writes land in the file); a
/// clone maps that file private, so it reads the template's pages from the host's page cache, shared
/// with every other clone, and only the pages it writes become its own. vhost-user (virtiofs) needs
/// RAM the daemon can map too: a cold boot's is a shared memfd, and so is that of a clone that shares
/// host folders, which reads a full copy of the template's RAM into it.
/// </summary>
internal sealed record GuestRam(string? File, bool Shared)
{
    /// <summary>Anonymous shared memory (a memfd): a cold boot's, or a full-copy clone's.</summary>
    public static readonly GuestRam Anonymous = new(null, true);

    /// <summary>A file mapped shared: a template's.</summary>
    public static GuestRam SharedFile(string path) => new(path, true);

    /// <summary>A template's file mapped copy-on-write: a clone's.</summary>
    public static GuestRam Fork(string path) => new(path, false);

    public string Backend(VmResources resources)
    {
        var size = $"size={resources.MemoryBytes >> 20}M,share={(Shared ? "on" : "off")}";
        return File is null ? $"memory-backend-memfd,id=ram,{size}" : $"memory-backend-file,id=ram,mem-path={File},{size}";
    }
}

/// <summary>What a VM's two NICs are plugged into: the bridge segment's switch, and slirp with the published ports.</summary>
internal sealed record NicBackends(VmNetworkSpec Network, string BridgeSocket)
{
    public string Bridge(VmFolder folder) =>
        $"dgram,id=nb,local.type=unix,local.path={folder.BridgeNic},remote.type=unix,remote.path={BridgeSocket}";

    /// <summary>slirp with one <c>hostfwd</c> per published port; restricted (no way out) for internal networks.</summary>
    public string Public() =>
        // No IPv6: slirp would hand the guest's connections to fec0::2 to the host's ::1.
        "user,id=np,net=10.0.2.0/24,ipv6=off,restrict=" + (Network.Outbound ? "off" : "on")
        + string.Concat(Network.Forwards.Select(f => $",hostfwd={f.Protocol}:{f.HostIp}:{f.HostPort}-:{f.GuestPort}"));
}
