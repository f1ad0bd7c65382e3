using Vic.Interaction;

namespace Vic.Tether;

/// <summary>The root's volumes: disks, NFS exports and host folders, mounted aside and bound in.</summary>
internal static partial class RootFilesystem
{
    /// <summary>
    /// Binds a volume mounted aside at <paramref name="staging"/> into the root. An empty writable
    /// volume first gets what the image has at its path, as on dockerd.
    /// </summary>
    private static void BindVolume(string root, string staging, string path, bool readOnly)
    {
        var target = root + path;
        if (!readOnly && Directory.Exists(target) && IsEmptyVolume(staging))
        {
            CopyTree(target, staging);
        }

        Directory.CreateDirectory(target);
        Native.Check(Native.mount(staging, target, null, Native.MsBind, null), $"bind volume {path}");
        if (readOnly)
        {
            Native.Check(Native.mount(null, target, null, Native.MsBind | Native.MsRemount | Native.MsRdonly, null), $"read-only volume {path}");
        }
    }

    /// <summary>
    /// Mounts each NFS volume (NFSv4, by address: the kernel resolves no names) aside and binds it.
    /// The NICs were addressed just before; the first mount may still race the link, so it retries.
    /// </summary>
    private static void MountNfsVolumes(string root, IReadOnlyList<NfsVolumeSpec> volumes, TimeSpan wait)
    {
        if (volumes.Count > 0)
        {
            KernelModules.LoadSet("nfs");
        }

        for (var i = 0; i < volumes.Count; i++)
        {
            var volume = volumes[i];
            var staging = Directory.CreateDirectory($"{Mounts}/nfs/{i}").FullName;
            var options = $"vers=4.2,addr={volume.Server},port={volume.Port},hard,timeo=600,retrans=2";
            var deadline = DateTime.UtcNow + wait;
            while (Native.mount($"{volume.Server}:{volume.ExportPath}", staging, "nfs4", volume.ReadOnly ? Native.MsRdonly : 0, options) != 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Native.Check(-1, $"mount NFS volume {volume.Server}:{volume.ExportPath} at {volume.Path}");
                }

                Thread.Sleep(50);
            }

            BindVolume(root, staging, volume.Path, volume.ReadOnly);
        }
    }

    /// <summary>
    /// Mounts each host folder shared with the VM (virtiofs, by tag) aside, then binds it, or the one
    /// file asked for, into the root. A share added to a running clone shows up a moment after the
    /// spec arrives, so the mount is retried until the disks' deadline.
    /// </summary>
    private static void MountShares(string root, IReadOnlyList<ShareSpec> shares, TimeSpan wait)
    {
        for (var i = 0; i < shares.Count; i++)
        {
            var share = shares[i];
            var staging = Directory.CreateDirectory($"{Mounts}/shares/{i}").FullName;
            var flags = share.ReadOnly ? Native.MsRdonly : 0;
            var deadline = DateTime.UtcNow + wait;
            while (Native.mount(share.Tag, staging, "virtiofs", flags, null) != 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Native.Check(-1, $"mount host folder {share.Tag} at {share.Path}");
                }

                Thread.Sleep(10);
            }

            var source = share.FileName is null ? staging : Path.Combine(staging, share.FileName);
            var target = root + share.Path;
            if (share.FileName is null)
            {
                Directory.CreateDirectory(target);
            }
            else if (!File.Exists(target))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.WriteAllBytes(target, []);
            }

            Native.Check(Native.mount(source, target, null, Native.MsBind, null), $"bind host folder at {share.Path}");
            if (share.ReadOnly)
            {
                Native.Check(Native.mount(null, target, null, Native.MsBind | Native.MsRemount | Native.MsRdonly, null), $"read-only host folder at {share.Path}");
            }
        }
    }

    private static bool IsEmptyVolume(string path) =>
        Directory.EnumerateFileSystemEntries(path).All(e => Path.GetFileName(e) == "lost+found");

    /// <summary>Copies a tree with its owners, modes and links (the image's content into a fresh volume).</summary>
    private static void CopyTree(string from, string to)
    {
        if (Native.lstat(from, out var top) == 0)
        {
            Native.lchown(to, top.Uid, top.Gid);
            File.SetUnixFileMode(to, (UnixFileMode)(top.Mode & 0xFFF));
        }

        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            var destination = Path.Combine(to, entry.Name);
            if (Native.lstat(entry.FullName, out var stat) != 0)
            {
                continue;
            }

            switch (stat.Mode & 0xF000)
            {
                case 0xA000:
                    File.CreateSymbolicLink(destination, entry.LinkTarget ?? "");
                    break;
                case 0x4000:
                    Directory.CreateDirectory(destination);
                    CopyTree(entry.FullName, destination);
                    continue;
                case 0x8000:
                    File.Copy(entry.FullName, destination, overwrite: true);
                    File.SetUnixFileMode(destination, (UnixFileMode)(stat.Mode & 0xFFF));
                    break;
                default:
                    // Devices, pipes and sockets do not belong in a volume's first content.
                    continue;
            }

            Native.lchown(destination, stat.Uid, stat.Gid);
        }
    }
}
