namespace Vic.Disks.Ext4;

/// <summary>
/// The image has no room left: its data blocks or its inodes (both fixed by
/// <see cref="Ext4Options"/>) are used up. The image is unusable afterwards; make a bigger one.
/// </summary>
public sealed class Ext4FullException : IOException
{
    public Ext4FullException()
    {
    }

    public Ext4FullException(string message)
        : base(message)
    {
    }

    public Ext4FullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
