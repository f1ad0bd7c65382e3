namespace Vic.Disks.Ext4;

/// <summary>Ownership, permissions, time and extended attributes of one entry.</summary>
/// <param name="Mode">Permission bits including setuid, setgid and sticky (07777); other bits are ignored,
/// the type comes from the method that adds the entry.</param>
/// <param name="Uid">Owner; stored as an unsigned 32-bit id.</param>
/// <param name="Gid">Group; stored as an unsigned 32-bit id.</param>
/// <param name="ModifiedAt">Becomes mtime, atime and ctime, with nanoseconds.</param>
/// <param name="Xattrs">Full names (user.*, trusted.*, security.*, system.posix_acl_access/default) to raw
/// values as the xattr system calls see them; see <see cref="Ext4Writer.IsSupportedXattrName"/>.</param>
public sealed record Ext4Metadata(
    int Mode,
    int Uid,
    int Gid,
    DateTimeOffset ModifiedAt,
    IReadOnlyDictionary<string, byte[]>? Xattrs = null);
