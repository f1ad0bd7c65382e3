using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Filters;
using Vic.Api.Models;
using Vic.Api.Versioning;
using Vic.PortLayer.Vch;
using Vic.PortLayer.Volumes;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.VolumesApi;

/// <summary>The volume routes: create, list (filters), inspect, remove, prune.</summary>
public static class VolumesEndpoints
{
    public static void MapVolumesEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/volumes/create", CreateAsync);
        routes.MapGet("/volumes", List);
        routes.MapGet("/volumes/{name}", (HttpContext context, VchEngine engine, string name) =>
            DockerJson.WriteAsync(context, View(engine, engine.Volumes.Get(name))));
        routes.MapDelete("/volumes/{name}", (HttpContext context, VchEngine engine, string name) =>
        {
            engine.Volumes.Remove(name, IsTrue(context.Request.Query["force"]));
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapPost("/volumes/prune", Prune);
    }

    public static JsonObject View(VchEngine engine, VolumeRecord volume) => new()
    {
        ["CreatedAt"] = volume.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        ["Driver"] = volume.Driver,
        ["Labels"] = new JsonObject(volume.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
        ["Mountpoint"] = engine.Volumes.Mountpoint(volume.Name),
        ["Name"] = volume.Name,
        ["Options"] = new JsonObject(volume.Options.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))),
        ["Scope"] = "local",
    };

    private static async Task CreateAsync(HttpContext context, VchEngine engine)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var root = body.RootElement;
        var volume = engine.Volumes.Create(Text(root, "Name"), Text(root, "Driver"), Map(root, "DriverOpts"), Map(root, "Labels"));
        await DockerJson.WriteAsync(context, View(engine, volume), StatusCodes.Status201Created).ConfigureAwait(false);
    }

    private static Task List(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        var matches = Matcher(engine, filters);
        return DockerJson.WriteAsync(context, new JsonObject
        {
            ["Volumes"] = new JsonArray([.. engine.Volumes.List().Where(matches).Select(v => (JsonNode)View(engine, v))]),
            ["Warnings"] = new JsonArray(),
        });
    }

    private static Task Prune(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        // Below API 1.42 prune took every unused volume, named ones too; dockerd keeps that for older clients.
        var all = (filters.TryGetValue("all", out var a) && a.Any(v => v is "true" or "1"))
            || context.ApiVersion() < new ApiVersion(1, 42);
        var rest = filters.Where(f => f.Key != "all").ToDictionary(f => f.Key, f => f.Value);
        var (removed, reclaimed) = engine.Volumes.Prune(all, Matcher(engine, rest));
        return DockerJson.WriteAsync(context, new JsonObject
        {
            ["VolumesDeleted"] = new JsonArray([.. removed.Select(r => (JsonNode)r)]),
            ["SpaceReclaimed"] = reclaimed,
        });
    }

    /// <summary>dockerd's volume filters: name (substring), driver, label (key or key=value), dangling.</summary>
    private static Func<VolumeRecord, bool> Matcher(VchEngine engine, IReadOnlyDictionary<string, IReadOnlySet<string>> filters)
    {
        foreach (var key in filters.Keys.Where(k => k is not ("name" or "driver" or "label" or "dangling")))
        {
            throw Vic.PortLayer.Errors.PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        return v =>
            (!filters.TryGetValue("name", out var names) || names.Any(n => v.Name.Contains(n, StringComparison.Ordinal)))
            && (!filters.TryGetValue("driver", out var drivers) || drivers.Contains(v.Driver))
            && FilterArgs.MatchesLabels(v.Labels, filters)
            && (!filters.TryGetValue("dangling", out var dangling) || dangling.All(d => (d is "true" or "1") == (engine.Volumes.UsedBy(v.Name).Count == 0)));
    }


}
