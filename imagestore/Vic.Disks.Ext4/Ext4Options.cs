namespace Vic.Disks.Ext4;

/// <summary>
/// How the image is laid out. Blocks are always 4 KiB. <paramref name="CapacityBytes"/> is the size of
/// the filesystem (the target is extended to it on completion); it may be far larger than the data
/// because unwritten blocks stay holes in the target.
/// </summary>
/// <param name="CapacityBytes">Size of the filesystem; rounded down to whole 4 KiB blocks.</param>
/// <param name="VolumeLabel">At most 16 bytes of UTF-8.</param>
/// <param name="Uuid">Filesystem UUID; a random one when null or empty.</param>
/// <param name="Timestamp">Creation time of the filesystem, of implicit directories and every inode's
/// crtime; now when null. e2fsck flags crtimes far from the creation time, so this must not lie in the future.</param>
/// <param name="BytesPerInode">Capacity per inode, as mke2fs' -i; the inode count is fixed up front.</param>
public sealed record Ext4Options(
    long CapacityBytes,
    string VolumeLabel = "",
    Guid? Uuid = null,
    DateTimeOffset? Timestamp = null,
    int BytesPerInode = 16384);
