using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Vic.PortLayer.Errors;

namespace Vic.Api.Models;

/// <summary>How every handler reads Docker's query flags and JSON bodies.</summary>
public static class RequestReading
{
    /// <summary>Docker's boolean query values: 1 or true.</summary>
    public static bool IsTrue(string? value) => value is "1" or "true" or "True";

    /// <summary>An integer query value; null when absent, 400 in dockerd's words when it is not a number.</summary>
    public static int? Integer(string? text, string parameter) =>
        string.IsNullOrEmpty(text) ? null
        : int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value
        : throw PortLayerException.InvalidParameter($"invalid value for {parameter}: strconv.Atoi: parsing \"{text}\": invalid syntax");

    /// <summary>A string member of a JSON object; empty when absent or not a string.</summary>
    public static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    /// <summary>A boolean member of a JSON object; false when absent.</summary>
    public static bool Flag(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    /// <summary>An integer member of a JSON object; 0 when absent or not an int64.</summary>
    public static long Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : 0;

    /// <summary>A list of strings; Docker accepts a single string too (for Cmd and Entrypoint). Empty when absent.</summary>
    public static IReadOnlyList<string> Strings(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value))
        {
            return [];
        }

        return value.ValueKind switch
        {
            JsonValueKind.Array => [.. value.EnumerateArray().Select(v => v.GetString() ?? "")],
            JsonValueKind.String => [value.GetString()!],
            _ => [],
        };
    }

    /// <summary>A string-to-string object member (labels, options); empty when absent.</summary>
    public static Dictionary<string, string> Map(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : [];

    /// <summary>The request body as JSON; malformed JSON is a 400 with the parser's reason.</summary>
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            throw PortLayerException.InvalidParameter($"invalid JSON: {ex.Message}");
        }
    }
}
