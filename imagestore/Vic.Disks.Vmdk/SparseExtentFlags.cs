namespace Vic.Disks.Vmdk;

/// <summary>The <c>flags</c> field of a <see cref="SparseExtentHeader"/>.</summary>
[Flags]
public enum SparseExtentFlags : uint
{
    None = 0,

    /// <summary>The header's newline-detection bytes are valid (they catch text-mode FTP damage).</summary>
    ValidNewlineDetection = 1 << 0,

    /// <summary>A redundant grain directory and grain tables exist at <c>rgdOffset</c>.</summary>
    RedundantGrainTable = 1 << 1,

    /// <summary>A grain table entry of 1 means "this grain reads as zeros" (header version 2).</summary>
    ZeroedGrainTableEntry = 1 << 2,

    /// <summary>Grains are deflate-compressed (streamOptimized).</summary>
    CompressedGrains = 1 << 16,

    /// <summary>Grains carry their LBA, and metadata is announced by markers (streamOptimized).</summary>
    Markers = 1 << 17,
}
