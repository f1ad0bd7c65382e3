using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;

namespace Vic.Api.Routing;

/// <summary>
/// Docker API families this VCH does not serve yet answer 501 with a message that says so, never a
/// silent 200; paths Docker does not have at all answer 404 "page not found" as dockerd does.
/// </summary>
public static class UnbuiltRoutes
{
    private static readonly string[] Families =
    [
        "/containers", "/exec", "/system",
        "/session",
        "/grpc",
    ];

    public static void MapUnbuiltRoutes(this IEndpointRouteBuilder routes)
    {
        foreach (var family in Families)
        {
            routes.Map(family, NotImplemented);
            routes.Map(family + "/{**rest}", NotImplemented);
        }

        routes.MapFallback(context => DockerError.WriteAsync(context, StatusCodes.Status404NotFound, "page not found"));
    }

    private static Task NotImplemented(HttpContext context) =>
        DockerError.WriteAsync(
            context,
            StatusCodes.Status501NotImplemented,
            $"{context.Request.Method} {context.Request.Path} is not implemented by this VCH yet");
}
