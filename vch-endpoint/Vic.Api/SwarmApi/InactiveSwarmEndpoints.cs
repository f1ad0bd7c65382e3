using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;

namespace Vic.Api.SwarmApi;

/// <summary>
/// A VCH is never part of a swarm (vSphere places its ContainerVMs), so the swarm-mode routes
/// answer as a dockerd whose swarm is inactive answers them: 503 with dockerd's own messages,
/// which clients such as docker-py treat as "no swarm here". Joining or starting a swarm is refused
/// the same way, with a message that says why. Plugins are not served: the list is empty and a
/// named plugin is not found, as on a dockerd with none installed; installing one is refused.
/// </summary>
public static class InactiveSwarmEndpoints
{
    public const string NotAManager = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

    public const string NotPartOfASwarm = "This node is not part of a swarm";

    public const string NoSwarmOnAVch = "swarm mode is not available on a VCH: its ContainerVMs are placed by vSphere, so this node cannot init or join a swarm";

    private static readonly string[] ManagerFamilies = ["/nodes", "/services", "/tasks", "/secrets", "/configs"];

    public static void MapInactiveSwarmEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/swarm", NotManager);
        routes.MapPost("/swarm/leave", (HttpContext context) => Unavailable(context, NotPartOfASwarm));
        routes.MapPost("/swarm/unlock", (HttpContext context) => Unavailable(context, NotPartOfASwarm));
        routes.MapPost("/swarm/init", (HttpContext context) => Unavailable(context, NoSwarmOnAVch));
        routes.MapPost("/swarm/join", (HttpContext context) => Unavailable(context, NoSwarmOnAVch));
        routes.MapGet("/swarm/unlockkey", NotManager);
        routes.MapPost("/swarm/update", NotManager);
        foreach (var family in ManagerFamilies)
        {
            routes.Map(family, NotManager);
            routes.Map(family + "/{**rest}", NotManager);
        }

        routes.MapGet("/plugins", (HttpContext context) => DockerJsonEmptyList(context));
        routes.MapGet("/plugins/privileges", (HttpContext context) =>
            DockerError.WriteAsync(context, StatusCodes.Status501NotImplemented, "plugins are not supported by this VCH"));
        routes.MapPost("/plugins/pull", (HttpContext context) =>
            DockerError.WriteAsync(context, StatusCodes.Status501NotImplemented, "plugins are not supported by this VCH: docker plugin install is refused"));
        routes.MapPost("/plugins/create", (HttpContext context) =>
            DockerError.WriteAsync(context, StatusCodes.Status501NotImplemented, "plugins are not supported by this VCH: docker plugin create is refused"));
        // Plugin names have slashes (vieux/sshfs): the action, if any, is the last segment.
        routes.Map("/plugins/{**rest}", (HttpContext context, string rest) => PluginNotFound(context, PluginName(context.Request.Method, rest)));
    }

    private static string PluginName(string method, string rest)
    {
        var slash = rest.LastIndexOf('/');
        return method != HttpMethods.Delete && slash > 0 && PluginActions.Contains(rest[(slash + 1)..]) ? rest[..slash] : rest;
    }

    private static readonly HashSet<string> PluginActions = ["json", "enable", "disable", "push", "set", "upgrade"];

    private static Task NotManager(HttpContext context) => Unavailable(context, NotAManager);

    private static Task Unavailable(HttpContext context, string message) =>
        DockerError.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, message);

    private static Task PluginNotFound(HttpContext context, string name) =>
        DockerError.WriteAsync(context, StatusCodes.Status404NotFound, $"plugin \"{name}\" not found");

    private static Task DockerJsonEmptyList(HttpContext context)
    {
        context.Response.ContentType = DockerError.JsonContentType;
        return context.Response.WriteAsync("[]\n");
    }
}
