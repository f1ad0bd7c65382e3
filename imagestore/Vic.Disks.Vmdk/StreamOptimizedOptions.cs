using System.IO.Compression;

namespace Vic.Disks.Vmdk;

/// <summary>Choices for <see cref="StreamOptimizedWriter"/>.</summary>
public sealed record StreamOptimizedOptions
{
    public VmdkAdapterType AdapterType { get; init; } = VmdkAdapterType.LsiLogic;

    /// <summary>
    /// The file name in the descriptor's extent line. Importers (ovftool, vSphere) ignore it for a
    /// streamOptimized disk, but it should be the name the file is uploaded under.
    /// </summary>
    public string ExtentFileName { get; init; } = "disk.vmdk";

    public CompressionLevel CompressionLevel { get; init; } = CompressionLevel.Optimal;
}
