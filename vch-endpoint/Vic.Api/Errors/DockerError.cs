using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Vic.PortLayer.Errors;

namespace Vic.Api.Errors;

/// <summary>
/// Writes errors the way dockerd does: <c>{"message": "..."}</c> with a Content-Type of exactly
/// <c>application/json</c>. With a charset appended the docker CLI prints the raw JSON instead of
/// the message.
/// </summary>
public static class DockerError
{
    public const string JsonContentType = "application/json";

    public static int StatusFor(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidParameter => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.NotModified => StatusCodes.Status304NotModified,
        ErrorKind.NotImplemented => StatusCodes.Status501NotImplemented,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static async Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status304NotModified)
        {
            // 304 carries no body; docker treats it as success ("already started").
            return;
        }

        context.Response.ContentType = JsonContentType;
        await context.Response.WriteAsync(JsonSerializer.Serialize(new ErrorBody(message), ErrorJson.Options)).ConfigureAwait(false);
    }

    private sealed record ErrorBody(string Message);

    private static class ErrorJson
    {
        public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    }
}
