using System.Text.Json;
using Vic.Registry;

namespace Vic.ImageStore.Images;

/// <summary>Reads what the store needs from an image config: its layers' diffIDs, creation time and labels.</summary>
public static class ImageConfigs
{
    public static (IReadOnlyList<string> DiffIds, DateTimeOffset Created, IReadOnlyDictionary<string, string> Labels) Read(byte[] config, int layerCount)
    {
        try
        {
            using var json = JsonDocument.Parse(config);
            var root = json.RootElement;
            var diffIds = root.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToList();
            if (diffIds.Count != layerCount || diffIds.Any(d => !Registry.Digests.IsValid(d)))
            {
                throw new RegistryException(RegistryErrorKind.InvalidContent, $"image config lists {diffIds.Count} layers but the manifest has {layerCount}");
            }

            var created = root.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(c.GetString(), System.Globalization.CultureInfo.InvariantCulture, out var when)
                ? when
                : DateTimeOffset.UnixEpoch;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("config", out var cfg) && cfg.ValueKind == JsonValueKind.Object && cfg.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object)
            {
                foreach (var label in l.EnumerateObject())
                {
                    labels[label.Name] = label.Value.GetString() ?? "";
                }
            }

            return (diffIds, created, labels);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"invalid image config: {ex.Message}", ex);
        }
    }
}
