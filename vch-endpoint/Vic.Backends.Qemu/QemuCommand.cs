using System.Globalization;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>
/// The QEMU command line of a ContainerVM. Everything that is part of the machine (devices, memory,
/// CPUs) must be the same for a template and its clones; paths of sockets and disks may differ.
/// </summary>
internal static class QemuCommand
{
    public static List<string> Build(QemuBackendOptions options, VmFolder folder, VmResources resources, string accelerator, IReadOnlyList<DiskAttachment> disks, string? incoming)
    {
        var args = new List<string>
        {
            "-name", "vic-" + System.IO.Path.GetFileName(folder.Path),
            "-machine", $"pc,accel={accelerator}",
            "-smp", resources.Cpus.ToString(CultureInfo.InvariantCulture),
            "-m", $"{resources.MemoryBytes >> 20}M",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-daemonize", "-pidfile", folder.PidFile,
            "-kernel", options.Kernel, "-initrd", options.Initramfs, "-append", options.CommandLine,
            "-serial", $"file:{folder.Console}",
            "-qmp", $"unix:{folder.Qmp},server=on,wait=off",
            "-chardev", $"socket,id=vic,path={folder.Channel},server=on,wait=off",
            "-device", "virtio-serial-pci,id=vser",
            "-device", "virtserialport,bus=vser.0,chardev=vic,name=vic.channel",
            "-nic", "none",
        };
        foreach (var disk in disks)
        {
            args.Add("-drive");
            args.Add($"if=none,id=d-{disk.Id},file={disk.Path},format=vmdk,readonly={(disk.ReadOnly ? "on" : "off")},file.locking=off");
            args.Add("-device");
            args.Add($"virtio-blk-pci,drive=d-{disk.Id},serial={disk.Id},id=dev-{disk.Id}");
        }

        if (incoming is not null)
        {
            args.Add("-incoming");
            args.Add($"exec:cat {incoming}");
        }

        return args;
    }
}
