using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>How an instant clone gets the template's RAM.</summary>
public enum CloneMemory
{
    /// <summary>Maps the template's RAM file private: pages are shared until the clone writes them.</summary>
    CopyOnWrite,

    /// <summary>Reads all of the template's RAM into memory of its own (what clones did before copy-on-write; kept to compare).</summary>
    FullCopy,
}

public enum Accelerator
{
    /// <summary>Try KVM with a short timeout; fall back to TCG (KVM guests hang on some hosts).</summary>
    Auto,
    Kvm,
    Tcg,
}

/// <summary>The local backend's settings: what to boot, where its state lives, and the pool it may use.</summary>
/// <param name="StateDirectory">Per-VM folders (sockets, pid, console log) and the templates.</param>
/// <param name="Kernel">The ContainerVM kernel (bzImage).</param>
/// <param name="Initramfs">The initramfs with vic-init, vic-exec and the tether.</param>
/// <param name="PoolLimit">CPU and memory all powered-on ContainerVMs together may use.</param>
/// <param name="InstantClone">Start containers by restoring a template; false cold-boots each.</param>
public sealed record QemuBackendOptions(
    string StateDirectory,
    string Kernel,
    string Initramfs,
    VmResources PoolLimit,
    bool InstantClone = true,
    Accelerator Accelerator = Accelerator.Auto,
    string QemuBinary = "qemu-system-x86_64",
    CloneMemory CloneMemory = CloneMemory.CopyOnWrite)
{
    /// <summary>How long a cold boot may take to reach the tether; TCG boots of a 2-core host are seconds.</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>Where templates are kept; shared by backends of one host (tests share one across VCHs).</summary>
    public string? TemplateDirectory { get; init; }

    /// <summary>What ContainerVMs may not reach on the host; null leaves them slirp's whole view of it.</summary>
    public GuestIsolation? Isolation { get; init; }

    /// <summary>The virtiofs daemon that serves host folders to ContainerVMs (Debian's qemu-system-common has it).</summary>
    public string VirtioFsDaemon { get; init; } = "/usr/lib/qemu/virtiofsd";

    /// <summary>
    /// The size of TCG's cache of translated guest code, per ContainerVM, in MiB. With QEMU's default
    /// (1 GiB, filled as code runs) a clone that ran one container start held ~38 MiB of translations
    /// (67,000 blocks of 1.1 MB of guest code); a full cache is flushed and refilled with the code still
    /// running, which costs time: with 16 MiB a <c>docker run --rm busybox true</c> took 1.2-1.5 s
    /// where 32 MiB took 0.85-1.1 s and 64 MiB 0.8-1.0 s (docs/SPEC.md). A ready clone must hold its
    /// rehearsal's translations and a start's (~36 MiB together): at 32 MiB it flushed them in the
    /// middle of the start and translated everything again, and its start in the guest took
    /// 350-470 ms where at 64 MiB it takes 120-150 ms. Only the pages a clone fills are resident.
    /// </summary>
    public int TcgTranslationCacheMiB { get; init; } = DefaultTcgTranslationCacheMiB;

    /// <summary>
    /// How many ContainerVMs to keep restored and answering ahead of need (<see cref="ReadyClonePool"/>);
    /// 0 restores every clone when it is asked for. Each ready clone holds an idle clone's memory
    /// (~60 MiB under TCG) outside the VCH pool.
    /// </summary>
    public int ReadyClones { get; init; } = DefaultReadyClones;

    public const int DefaultReadyClones = 2;

    /// <summary>
    /// Writes an empty scratch disk (an ext4 VMDK, as a container's) at the path given. A ready
    /// clone's rehearsal mounts one, so a start's ext4 and overlay work is code it has translated;
    /// null rehearses on tmpfs.
    /// </summary>
    public Action<string>? MakeScratchDisk { get; init; }

    public const int DefaultTcgTranslationCacheMiB = 64;

    /// <summary>
    /// The guest kernel's command line. <c>cryptomgr.notests</c>: the crypto self-tests are 0.25-0.4 s
    /// of a boot under emulation. (ACPI's PCI interrupt routing costs 85 ms per device on the i440FX,
    /// whose routing table is an AML loop, but the BIOS's routing, <c>acpi=noirq</c>, loses a clone's
    /// third hot-added disk and the second CPU.) <c>mitigations=off</c>: retpolines and RSB filling are
    /// guest code on every indirect call and context switch; they guard the guest's processes from
    /// each other, and those are one container's (no gain was measurable within the noise of TCG).
    /// </summary>
    public string CommandLine { get; init; } = "console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off vic.channel=/dev/virtio-ports/vic.channel";
}
