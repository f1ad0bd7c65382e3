using System.Globalization;
using System.Text;
using Vic.Disks.Ext4;

namespace Vic.Machine;

/// <summary>One file of the appliance's config disk: its name at the disk's root, its bytes, and whether only root may read it.</summary>
public sealed record ConfigFile(string Name, byte[] Content, bool Secret = false)
{
    public static ConfigFile Text(string name, string text, bool secret = false) => new(name, Encoding.UTF8.GetBytes(text), secret);
}

/// <summary>
/// The appliance's configuration as vSphere can hand it to a VM that has no VMware Tools: a small
/// ext4 file system labelled <c>VIC_CONFIG</c> (the label the appliance's /init looks for, and
/// mounts read-only) on a flat VMDK, uploaded to the datastore beside the VCH's other files. Its
/// secrets (the vSphere password, the server's TLS key, vicadmin's logins) are files only root
/// reads in the guest, and never extraConfig, which anyone who may read the VM's settings sees; on
/// the datastore they are as readable as any VM's disks are to those who may browse it.
/// </summary>
public static class ApplianceConfigDisk
{
    public const string Label = "VIC_CONFIG";

    /// <summary>Big enough for the certificates, CA bundles and an authorization policy; holes where nothing is written.</summary>
    public const long CapacityBytes = 16L << 20;

    /// <summary>Writes the file system into <paramref name="flatPath"/> (a raw image: a VMDK's flat extent).</summary>
    public static void Write(string flatPath, IEnumerable<ConfigFile> files)
    {
        var now = DateTimeOffset.UtcNow;
        using var target = new FileStream(flatPath, FileMode.Create, FileAccess.ReadWrite);
        using var ext4 = new Ext4Writer(target, new Ext4Options(CapacityBytes, Label, Timestamp: now));
        foreach (var file in files)
        {
            using var content = new MemoryStream(file.Content);
            ext4.AddFile(file.Name, new Ext4Metadata(file.Secret ? 0b110_000_000 : 0b110_100_100, 0, 0, now), content, file.Content.Length);
        }

        ext4.Complete();
    }

    /// <summary>
    /// The descriptor of a VMDK whose extent is <paramref name="flatName"/>, as ESXi writes one for
    /// a thick disk: vSphere attaches the pair, and a datastore upload of both is how a disk made
    /// elsewhere gets there.
    /// </summary>
    public static string Descriptor(string flatName, long capacityBytes)
    {
        var sectors = capacityBytes / 512;
        var cylinders = Math.Min(sectors / (255 * 63), 65535);
        return string.Create(CultureInfo.InvariantCulture, $"""
            # Disk DescriptorFile
            version=1
            encoding="UTF-8"
            CID={Random.Shared.Next(1, int.MaxValue):x8}
            parentCID=ffffffff
            createType="vmfs"

            # Extent description
            RW {sectors} VMFS "{flatName}"

            # The Disk Data Base
            #DDB

            ddb.adapterType = "lsilogic"
            ddb.geometry.cylinders = "{cylinders}"
            ddb.geometry.heads = "255"
            ddb.geometry.sectors = "63"
            ddb.virtualHWVersion = "13"

            """);
    }
}
