using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Vic.Api.Errors;

namespace Vic.Api.Versioning;

/// <summary>
/// Serves <c>/vX.Y/...</c> and bare paths alike: strips the version prefix, refuses versions outside
/// [<see cref="ApiVersion.Minimum"/>, <see cref="ApiVersion.Maximum"/>] with dockerd's 400 texts, and
/// stamps every response with the headers dockerd sends.
/// </summary>
public sealed partial class ApiVersionMiddleware
{
    private readonly RequestDelegate _next;
    private readonly string _serverHeader;

    public ApiVersionMiddleware(RequestDelegate next, EngineIdentity identity)
    {
        _next = next;
        _serverHeader = $"Docker/{identity.Version} (linux)";
    }

    public Task InvokeAsync(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers["Api-Version"] = ApiVersion.Maximum.ToString();
        headers["Docker-Experimental"] = "false";
        headers["Ostype"] = "linux";
        headers.Server = _serverHeader;

        var version = ApiVersion.Maximum;
        var match = VersionPrefix().Match(context.Request.Path.Value ?? "");
        if (match.Success)
        {
            var text = match.Groups["version"].Value;
            if (!ApiVersion.TryParse(text, out var parsed))
            {
                return DockerError.WriteAsync(context, StatusCodes.Status400BadRequest, $"invalid API version: {text}");
            }

            if (parsed < ApiVersion.Minimum)
            {
                return DockerError.WriteAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    $"client version {text} is too old. Minimum supported API version is {ApiVersion.Minimum}, please upgrade your client to a newer version");
            }

            if (parsed > ApiVersion.Maximum)
            {
                return DockerError.WriteAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    $"client version {text} is too new. Maximum supported API version is {ApiVersion.Maximum}");
            }

            version = parsed.Value;
            context.Request.Path = match.Groups["rest"].Value.Length == 0 ? "/" : match.Groups["rest"].Value;
        }

        context.Features.Set(new RequestedApiVersion(version));
        return _next(context);
    }

    [GeneratedRegex(@"^/v(?<version>[0-9.]+)(?<rest>/.*)?$")]
    private static partial Regex VersionPrefix();
}

/// <summary>The API version this request speaks, for handlers whose answer depends on it.</summary>
public sealed record RequestedApiVersion(ApiVersion Version);
