using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Errors;

namespace Vic.Api.Errors;

/// <summary>Turns every failure below the Api into dockerd's error shape; nothing escapes as an HTML page.</summary>
public sealed partial class DockerErrorMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ILogger<DockerErrorMiddleware> _logger;

    public DockerErrorMiddleware(RequestDelegate next, ILogger<DockerErrorMiddleware> logger)
    {
        _next = next;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await _next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is no one to answer.
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            var (status, message) = ex switch
            {
                PortLayerException p => (DockerError.StatusFor(p.Kind), p.Message),
                JsonException or BadHttpRequestException => (StatusCodes.Status400BadRequest, ex.Message),
                // A body member of the wrong JSON type, met where a handler reads it: the client's fault, as in dockerd's decoder.
                InvalidOperationException or FormatException when FromJsonReading(ex) => (StatusCodes.Status400BadRequest, $"invalid JSON: {ex.Message}"),
                _ => (StatusCodes.Status500InternalServerError, ex.Message),
            };
            if (status >= 500)
            {
                Log.RequestFailed(_logger, context.Request.Method, context.Request.Path.Value ?? "", ex);
            }
            else
            {
                Log.RequestRefused(_logger, context.Request.Method, context.Request.Path.Value ?? "", status, message);
            }

            await DockerError.WriteAsync(context, status, message).ConfigureAwait(false);
        }
    }

    private static bool FromJsonReading(Exception ex) =>
        ex.TargetSite?.DeclaringType?.Assembly == typeof(JsonElement).Assembly
        || new System.Diagnostics.StackTrace(ex).GetFrames().Take(3).Any(f => f.GetMethod()?.DeclaringType?.Assembly == typeof(JsonElement).Assembly);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
        public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "{Method} {Path} refused with {Status}: {Reason}")]
        public static partial void RequestRefused(ILogger logger, string method, string path, int status, string reason);
    }
}
