using System.Text.Json;
using Vic.Disks.Vmdk;

namespace Vic.ImageStore.Layers;

/// <summary>A layer the store found unsound when it opened, and set aside.</summary>
/// <param name="DiffId">The layer's diffID (from its folder's name when its record could not be read).</param>
/// <param name="SetAsideTo">Where its folder went, for whoever wants to look at it.</param>
public sealed record QuarantinedLayer(string DiffId, string Reason, string SetAsideTo);

/// <summary>
/// What a layer folder must hold to be served: a record naming the folder's diffID, a disk whose
/// header and grain tables read and whose grains lie within the file, and the blob of the size the
/// record gives. Cheap enough to run over every layer at each start (headers and tables only).
/// </summary>
internal static class LayerSoundness
{
    /// <summary>Why the layer in <paramref name="directory"/> cannot be served; null when it can.</summary>
    /// <remarks>
    /// The disk and blob are looked for in the folder itself, not at the paths the record kept: a data
    /// directory moved elsewhere must not make every layer look lost.
    /// </remarks>
    public static string? Problem(string directory, string infoFileName, string diskFileName, string blobFileName)
    {
        LayerInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<LayerInfo>(File.ReadAllText(Path.Combine(directory, infoFileName)));
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"its record could not be read: {ex.Message}";
        }

        if (info?.DiffId is not { Length: > 0 } diffId || !diffId.StartsWith("sha256:", StringComparison.Ordinal) || diffId["sha256:".Length..] != Path.GetFileName(directory))
        {
            return "its record names another layer";
        }

        var diskPath = Path.Combine(directory, diskFileName);
        try
        {
            using var disk = VmdkReader.Open(diskPath);
            disk.VerifyGrainsInFile();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or OverflowException)
        {
            return $"its disk {diskPath} could not be read: {ex.Message}";
        }

        var blob = new FileInfo(Path.Combine(directory, blobFileName));
        return !blob.Exists || blob.Length != info.BlobBytes
            ? $"its blob {blob.FullName} is {(blob.Exists ? $"{blob.Length} bytes, not {info.BlobBytes}" : "missing")}"
            : null;
    }
}
