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
    public static string? Problem(string directory, string infoFileName)
    {
        LayerInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<LayerInfo>(File.ReadAllText(Path.Combine(directory, infoFileName)));
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return $"its record could not be read: {ex.Message}";
        }

        if (info is null || Registry.Digests.Hex(info.DiffId) != Path.GetFileName(directory))
        {
            return "its record names another layer";
        }

        try
        {
            using var disk = VmdkReader.Open(info.DiskPath);
            disk.VerifyGrainsInFile();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            return $"its disk {info.DiskPath} could not be read: {ex.Message}";
        }

        var blob = new FileInfo(info.BlobPath);
        return !blob.Exists || blob.Length != info.BlobBytes
            ? $"its blob {info.BlobPath} is {(blob.Exists ? $"{blob.Length} bytes, not {info.BlobBytes}" : "missing")}"
            : null;
    }
}
