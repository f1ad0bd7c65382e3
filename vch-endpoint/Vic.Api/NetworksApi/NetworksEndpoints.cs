using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.ContainersApi;
using Vic.Api.Filters;
using Vic.Api.Models;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Vch;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.NetworksApi;

/// <summary>The network routes: create, list (filters), inspect, remove, prune, connect, disconnect.</summary>
public static class NetworksEndpoints
{
    public static void MapNetworksEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/networks/create", CreateAsync);
        routes.MapGet("/networks", List);
        routes.MapGet("/networks/{id}", (HttpContext context, VchEngine engine, string id) =>
            DockerJson.WriteAsync(context, View(engine, engine.Networks.Get(id))));
        routes.MapDelete("/networks/{id}", (HttpContext context, VchEngine engine, string id) =>
        {
            engine.Networks.Remove(id);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapPost("/networks/prune", Prune);
        routes.MapPost("/networks/{id}/connect", ConnectAsync);
        routes.MapPost("/networks/{id}/disconnect", DisconnectAsync);
    }

    public static JsonObject View(VchEngine engine, NetworkRecord network) => new()
    {
        ["Name"] = network.Name,
        ["Id"] = network.Id,
        ["Created"] = network.Created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z", CultureInfo.InvariantCulture),
        ["Scope"] = "local",
        ["Driver"] = network.Driver,
        ["EnableIPv6"] = network.EnableIpv6,
        ["IPAM"] = new JsonObject
        {
            ["Driver"] = "default",
            ["Options"] = null,
            ["Config"] = new JsonArray([.. PoolViews(network)]),
        },
        ["Internal"] = network.Internal,
        ["Attachable"] = network.Attachable,
        ["Ingress"] = false,
        ["ConfigFrom"] = new JsonObject { ["Network"] = "" },
        ["ConfigOnly"] = false,
        ["Containers"] = new JsonObject(engine.Networks.ContainersOn(network).Select(c => KeyValuePair.Create(c.Id, (JsonNode?)Endpoint(c, network)))),
        ["Options"] = new JsonObject(network.Options.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))),
        ["Labels"] = new JsonObject(network.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
    };

    private static IEnumerable<JsonNode> PoolViews(NetworkRecord network)
    {
        if (network.HasAddresses)
        {
            var v4 = new JsonObject { ["Subnet"] = network.Subnet, ["Gateway"] = network.Gateway };
            if (network.IpRange.Length > 0)
            {
                v4["IPRange"] = network.IpRange;
            }

            if (network.AuxiliaryAddresses.Count > 0)
            {
                v4["AuxiliaryAddresses"] = new JsonObject(network.AuxiliaryAddresses.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value)));
            }

            yield return v4;
        }

        if (network.EnableIpv6)
        {
            var v6 = new JsonObject { ["Subnet"] = network.Ipv6Subnet, ["Gateway"] = network.Ipv6Gateway };
            if (network.Ipv6Range.Length > 0)
            {
                v6["IPRange"] = network.Ipv6Range;
            }

            yield return v6;
        }
    }

    private static JsonObject Endpoint(Vic.PortLayer.Containers.ContainerRecord c, NetworkRecord network)
    {
        var endpoint = c.Networks.Values.First(e => e.NetworkId == network.Id);
        return new JsonObject
        {
            ["Name"] = c.Name,
            ["EndpointID"] = endpoint.EndpointId,
            ["MacAddress"] = endpoint.IpAddress.Length > 0 ? c.MacAddress : "",
            ["IPv4Address"] = endpoint.IpAddress.Length > 0 ? $"{endpoint.IpAddress}/{endpoint.PrefixLength}" : "",
            ["IPv6Address"] = endpoint.Ipv6Address.Length > 0 ? $"{endpoint.Ipv6Address}/{endpoint.Ipv6PrefixLength}" : "",
        };
    }

    private static async Task CreateAsync(HttpContext context, VchEngine engine)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var root = body.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw PortLayerException.InvalidParameter("invalid JSON: the body must be a JSON object");
        }

        var ipam = root.TryGetProperty("IPAM", out var i) && i.ValueKind == JsonValueKind.Object ? i : default;
        var pools = ipam.ValueKind == JsonValueKind.Object && ipam.TryGetProperty("Config", out var c) && c.ValueKind == JsonValueKind.Array ? c.EnumerateArray().ToList() : [];
        // One IPv4 pool (chosen by the VCH when none is given) and, for IPv6, at most one IPv6 pool.
        var v4Pools = pools.Where(p => !Ipv6Subnet.IsIpv6(Text(p, "Subnet"))).ToList();
        var v6Pools = pools.Where(p => Ipv6Subnet.IsIpv6(Text(p, "Subnet"))).ToList();
        if (v4Pools.Count > 1 || v6Pools.Count > 1)
        {
            throw PortLayerException.InvalidParameter("a VCH network has one IPv4 subnet and at most one IPv6 subnet: give --subnet once for each");
        }

        var pool = v4Pools.Count == 1 ? v4Pools[0] : default;
        var ipv6 = v6Pools.Count == 1 ? new Ipv6Pool(Text(v6Pools[0], "Subnet"), Text(v6Pools[0], "Gateway"), Text(v6Pools[0], "IPRange"))
            : Flag(root, "EnableIPv6") ? new Ipv6Pool()
            : null;
        var network = engine.Networks.Create(
            Text(root, "Name"),
            Text(root, "Driver"),
            Text(pool, "Subnet"),
            Text(pool, "Gateway"),
            Text(pool, "IPRange"),
            Flag(root, "Internal"),
            Flag(root, "Attachable"),
            Map(root, "Labels"),
            Map(root, "Options"),
            Map(pool, "AuxiliaryAddresses"),
            ipv6);
        await DockerJson.WriteAsync(context, new JsonObject { ["Id"] = network.Id, ["Warning"] = "" }, StatusCodes.Status201Created).ConfigureAwait(false);
    }

    private static Task List(HttpContext context, VchEngine engine)
    {
        var matches = Matcher(engine, FilterArgs.Parse(context.Request.Query["filters"]));
        return DockerJson.WriteAsync(context, new JsonArray([.. engine.Networks.List().Where(matches).Select(n => (JsonNode)View(engine, n))]));
    }

    private static Task Prune(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        foreach (var key in filters.Keys.Where(k => k is not ("until" or "label")))
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        var until = filters.TryGetValue("until", out var untils) ? untils.Select(u => DockerTimestamp.ParseOptional(u, "until")).Min() : null;
        var removed = engine.Networks.Prune(n => (until is null || n.Created < until) && FilterArgs.MatchesLabels(n.Labels, filters));
        return DockerJson.WriteAsync(context, new JsonObject { ["NetworksDeleted"] = new JsonArray([.. removed.Select(r => (JsonNode)r)]) });
    }

    private static async Task ConnectAsync(HttpContext context, VchEngine engine, string id)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var root = body.RootElement;
        var container = Text(root, "Container");
        if (container.Length == 0)
        {
            throw PortLayerException.InvalidParameter("no container given to connect");
        }

        var request = root.TryGetProperty("EndpointConfig", out var e) && e.ValueKind == JsonValueKind.Object ? CreateRequest.EndpointRequestOf(e) : new EndpointRequest();
        await engine.Runtime.ConnectAsync(container, id, request, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    private static async Task DisconnectAsync(HttpContext context, VchEngine engine, string id)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var root = body.RootElement;
        await engine.Runtime.DisconnectAsync(Text(root, "Container"), id, Flag(root, "Force"), context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    /// <summary>dockerd's network filters: driver, id, label, name, scope, type (custom or builtin), dangling.</summary>
    private static Func<NetworkRecord, bool> Matcher(VchEngine engine, IReadOnlyDictionary<string, IReadOnlySet<string>> filters)
    {
        foreach (var key in filters.Keys.Where(k => k is not ("driver" or "id" or "label" or "name" or "scope" or "type" or "dangling")))
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        return n =>
            (!filters.TryGetValue("driver", out var drivers) || drivers.Contains(n.Driver))
            && (!filters.TryGetValue("id", out var ids) || ids.Any(i => n.Id.StartsWith(i, StringComparison.Ordinal)))
            && (!filters.TryGetValue("name", out var names) || names.Any(x => n.Name.Contains(x, StringComparison.Ordinal)))
            && (!filters.TryGetValue("scope", out var scopes) || scopes.Contains("local"))
            && (!filters.TryGetValue("type", out var types) || types.Contains(n.Predefined ? "builtin" : "custom"))
            && (!filters.TryGetValue("dangling", out var dangling) || dangling.All(d => (d is "true" or "1") == (!n.Predefined && engine.Networks.ContainersOn(n).Count == 0)))
            && FilterArgs.MatchesLabels(n.Labels, filters);
    }
}
