using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Vic.PortLayer.Errors;

namespace Vic.Api.Models;

/// <summary>How every handler reads Docker's query flags and JSON bodies.</summary>
public static class RequestReading
{
    /// <summary>Docker's boolean query values: 1 or true.</summary>
    public static bool IsTrue(string? value) => value is "1" or "true" or "True";

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
