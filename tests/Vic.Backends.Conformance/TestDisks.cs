using System.Formats.Tar;
using System.Text;
using Vic.ImageStore.Layers;

namespace Vic.Backends.Conformance;

/// <summary>Disks for ContainerVMs in tests: a busybox layer (from Debian's busybox-static) and empty scratch disks.</summary>
public static class TestDisks
{
    private static readonly Lock Gate = new();

    /// <summary>A busybox root filesystem as a layer VMDK, built once per directory.</summary>
    public static string BusyboxLayer(string directory)
    {
        var path = Path.Combine(directory, "busybox-layer.vmdk");
        lock (Gate)
        {
            if (File.Exists(path))
            {
                return path;
            }

            Directory.CreateDirectory(directory);
            using var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (var dir in new[] { "bin", "etc", "proc", "sys", "dev", "root", "home", "var" })
                {
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101 });
                }

                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "tmp") { Mode = (UnixFileMode)0b1_111_111_111 });
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox")
                {
                    DataStream = File.OpenRead("/bin/busybox"),
                    Mode = (UnixFileMode)0b111_101_101,
                });
                foreach (var applet in Applets())
                {
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"bin/{applet}") { LinkName = "busybox" });
                }

                Add(writer, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n");
                Add(writer, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
            }

            tar.Position = 0;
            var partial = path + ".partial";
            using (var disk = new Ext4VmdkLayerDisk(partial, 1L << 30))
            {
                new LayerTarApplier(disk.Filesystem, 1L << 30).ApplyAsync(tar, CancellationToken.None).GetAwaiter().GetResult();
                disk.Complete();
            }

            File.Move(partial, path);
            return path;
        }
    }

    /// <summary>An empty ext4 VMDK: a container's writable layer.</summary>
    public static string Scratch(string path)
    {
        using (var disk = new Ext4VmdkLayerDisk(path, 1L << 30))
        {
            disk.Complete();
        }

        return path;
    }

    private static void Add(TarWriter writer, string name, string content) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)), Mode = (UnixFileMode)0b110_100_100 });

    private static IEnumerable<string> Applets()
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/busybox", "--list") { RedirectStandardOutput = true })!;
        var list = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(a => a != "busybox");
    }
}
