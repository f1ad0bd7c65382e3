namespace Vic.Disks.Ext4;

/// <summary>A run of <paramref name="Length"/> blocks: file block <paramref name="Logical"/> onward lives at
/// disk block <paramref name="Physical"/> onward.</summary>
internal readonly record struct Extent(uint Logical, long Physical, int Length)
{
    /// <summary>An initialized extent covers at most 2^15 blocks (longer lengths mean "unwritten").</summary>
    public const int MaxLength = 32768;
}
