using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Vic.Api.Errors;

namespace Vic.Api.Versioning;

/// <summary>
/// Serves <c>/vX.Y/...</c> and bare paths alike: strips the version prefix, refuses versions outside
/// [<see cref="ApiVersion.Minimum"/>, <see cref="ApiVersion.Maximum"/>] with dockerd's 400 texts, and
/// stamps every response with the headers dockerd sends.
/// </summary>
public sealed class ApiVersionMiddleware(RequestDelegate next, EngineIdentity identity)
{
    public Task InvokeAsync(HttpContext context)
    {
        foreach (var (name, value) in DockerResponseHeaders.For(identity))
        {
            context.Response.Headers[name] = value;
        }

        var requested = RequestedApiVersion.FromPath(context.Request.Path.Value ?? "");
        if (requested.Error is { } error)
        {
            return DockerError.WriteAsync(context, StatusCodes.Status400BadRequest, error);
        }

        // The path is decoded already: a string would be decoded again (an id holding "%00" became NUL and a 500).
        context.Request.Path = new PathString(requested.Path);
        context.Features.Set(requested);
        return next(context);
    }
}

/// <summary>The API version a request speaks (from its path's <c>/vX.Y</c> prefix) and its path without the prefix.</summary>
public sealed partial record RequestedApiVersion(ApiVersion Version, string Path, string? Error = null)
{
    /// <summary>Splits the version prefix off; <see cref="Error"/> holds dockerd's 400 text for a version it refuses.</summary>
    public static RequestedApiVersion FromPath(string path)
    {
        var match = VersionPrefix().Match(path);
        if (!match.Success)
        {
            return new RequestedApiVersion(ApiVersion.Maximum, path);
        }

        var text = match.Groups["version"].Value;
        var rest = match.Groups["rest"].Value.Length == 0 ? "/" : match.Groups["rest"].Value;
        if (!ApiVersion.TryParse(text, out var parsed))
        {
            return new RequestedApiVersion(ApiVersion.Maximum, rest, $"invalid API version: {text}");
        }

        if (parsed < ApiVersion.Minimum)
        {
            return new RequestedApiVersion(ApiVersion.Maximum, rest, $"client version {text} is too old. Minimum supported API version is {ApiVersion.Minimum}, please upgrade your client to a newer version");
        }

        return parsed > ApiVersion.Maximum
            ? new RequestedApiVersion(ApiVersion.Maximum, rest, $"client version {text} is too new. Maximum supported API version is {ApiVersion.Maximum}")
            : new RequestedApiVersion(parsed.Value, rest);
    }

    [GeneratedRegex(@"^/v(?<version>[0-9.]+)(?<rest>/.*)?$")]
    private static partial Regex VersionPrefix();
}

/// <summary>The headers dockerd puts on every response, hijacked ones included.</summary>
public static class DockerResponseHeaders
{
    public static IEnumerable<(string Name, string Value)> For(EngineIdentity identity) =>
    [
        ("Api-Version", ApiVersion.Maximum.ToString()),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", $"Docker/{identity.Version} (linux)"),
    ];
}

/// <summary>The version a request speaks, for the routes whose answers differ by version.</summary>
public static class ApiVersionOfRequest
{
    /// <summary>The version the request's path asked for; the newest when it named none.</summary>
    public static ApiVersion ApiVersion(this HttpContext context) =>
        context.Features.Get<RequestedApiVersion>()?.Version ?? Versioning.ApiVersion.Maximum;
}
