using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Filters;
using Vic.Api.Models;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.ContainersApi;

/// <summary>The container routes beyond the basic lifecycle: pause, unpause, restart, rename, update, top, stats, prune.</summary>
public static class ContainerOperationsEndpoints
{
    public static void MapContainerOperationsEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/containers/{id}/pause", (HttpContext context, VchEngine engine, string id) =>
            NoContentAsync(context, engine.Runtime.PauseAsync(id, context.RequestAborted)));
        routes.MapPost("/containers/{id}/unpause", (HttpContext context, VchEngine engine, string id) =>
            NoContentAsync(context, engine.Runtime.UnpauseAsync(id, context.RequestAborted)));
        routes.MapPost("/containers/{id}/restart", (HttpContext context, VchEngine engine, string id) =>
            NoContentAsync(context, engine.Runtime.RestartAsync(id, Seconds(context.Request.Query["t"]), context.RequestAborted)));
        routes.MapPost("/containers/{id}/rename", (HttpContext context, VchEngine engine, string id) =>
        {
            engine.Runtime.Rename(id, context.Request.Query["name"].ToString());
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapPost("/containers/{id}/update", UpdateAsync);
        routes.MapGet("/containers/{id}/top", TopAsync);
        routes.MapGet("/containers/{id}/stats", StatsAsync);
        routes.MapPost("/containers/prune", PruneAsync);
    }

    private static async Task NoContentAsync(HttpContext context, Task operation)
    {
        await operation.ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static int? Seconds(string? text) => Integer(text, "t");

    private static async Task UpdateAsync(HttpContext context, VchEngine engine, string id)
    {
        using var body = await ReadJsonAsync(context).ConfigureAwait(false);
        var root = body.RootElement;
        var memory = CreateRequest.MemoryOf(root);
        var cpus = CreateRequest.CpusOf(root);
        var policy = root.TryGetProperty("RestartPolicy", out var restart) && restart.ValueKind == System.Text.Json.JsonValueKind.Object
            ? CreateRequest.RestartPolicyOf(restart)
            : null;
        var asked = new CpuRequest(Number(root, "NanoCpus"), Number(root, "CpuShares"), Number(root, "CpuQuota"), Number(root, "CpuPeriod"));
        await engine.Runtime.UpdateAsync(id, new ContainerUpdate(memory > 0 ? memory : null, cpus > 0 ? cpus : null, policy) { CpuAsked = asked }, context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new JsonObject { ["Warnings"] = new JsonArray() }).ConfigureAwait(false);
    }

    private static async Task TopAsync(HttpContext context, VchEngine engine, string id)
    {
        var format = PsFormat.Parse(context.Request.Query["ps_args"]);
        var list = await engine.Runtime.TopAsync(id, context.RequestAborted).ConfigureAwait(false);
        var today = engine.Time.GetUtcNow().UtcDateTime.Date;
        await DockerJson.WriteAsync(context, new JsonObject
        {
            ["Titles"] = new JsonArray([.. format.ColumnTitles.Select(t => (JsonNode)t)]),
            ["Processes"] = new JsonArray([.. list.Select(p => (JsonNode)new JsonArray([.. format.Row(p, today).Select(c => (JsonNode)c)]))]),
        }).ConfigureAwait(false);
    }

    /// <summary>One JSON document a second while streaming; otherwise one, with a sample a second earlier as precpu so CPU % can be worked out.</summary>
    private static async Task StatsAsync(HttpContext context, VchEngine engine, string id)
    {
        var record = engine.Containers.Resolve(id);
        var stream = !context.Request.Query.ContainsKey("stream") || IsTrue(context.Request.Query["stream"]);
        var oneShot = IsTrue(context.Request.Query["one-shot"]);
        context.Response.ContentType = "application/json";
        var previous = await engine.Runtime.StatsAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (!stream)
        {
            if (oneShot || previous is null)
            {
                await WriteAsync(StatsDocument(record, previous, null, engine.Time.GetUtcNow())).ConfigureAwait(false);
                return;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), engine.Time, context.RequestAborted).ConfigureAwait(false);
            var current = await engine.Runtime.StatsAsync(id, context.RequestAborted).ConfigureAwait(false);
            await WriteAsync(StatsDocument(record, current, current is null ? null : previous, engine.Time.GetUtcNow())).ConfigureAwait(false);
            return;
        }

        await WriteAsync(StatsDocument(record, previous, null, engine.Time.GetUtcNow())).ConfigureAwait(false);
        while (previous is not null)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), engine.Time, context.RequestAborted).ConfigureAwait(false);
            var current = await engine.Runtime.StatsAsync(id, context.RequestAborted).ConfigureAwait(false);
            await WriteAsync(StatsDocument(record, current, current is null ? null : previous, engine.Time.GetUtcNow())).ConfigureAwait(false);
            previous = current;
        }

        async Task WriteAsync(JsonObject document)
        {
            await context.Response.WriteAsync(document.ToJsonString() + "\n", context.RequestAborted).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Docker's stats JSON from guest figures. The CLI's CPU % is cpu delta / system delta x online
    /// CPUs; the system figure is wall time x vCPUs, so a busy vCPU reads 100 %.
    /// </summary>
    public static JsonObject StatsDocument(ContainerRecord record, ContainerStats? current, ContainerStats? previous, DateTimeOffset now)
    {
        var guest = current ?? new ContainerStats(now, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        return new JsonObject
        {
            ["read"] = Stamp(current?.ReadAt ?? now),
            ["preread"] = previous is null ? "0001-01-01T00:00:00Z" : Stamp(previous.ReadAt),
            ["pids_stats"] = new JsonObject { ["current"] = guest.Processes },
            ["blkio_stats"] = new JsonObject
            {
                ["io_service_bytes_recursive"] = current is null ? null : new JsonArray(
                    new JsonObject { ["major"] = 254, ["minor"] = 0, ["op"] = "read", ["value"] = guest.BlockReadBytes },
                    new JsonObject { ["major"] = 254, ["minor"] = 0, ["op"] = "write", ["value"] = guest.BlockWriteBytes }),
            },
            ["num_procs"] = 0,
            ["storage_stats"] = new JsonObject(),
            ["cpu_stats"] = Cpu(current),
            ["precpu_stats"] = Cpu(previous),
            ["memory_stats"] = current is null ? new JsonObject() : new JsonObject { ["usage"] = guest.MemoryUsedBytes, ["stats"] = new JsonObject(), ["limit"] = guest.MemoryTotalBytes },
            ["name"] = "/" + record.Name,
            ["id"] = record.Id,
            ["networks"] = current is null ? null : new JsonObject
            {
                ["eth0"] = new JsonObject
                {
                    ["rx_bytes"] = guest.NetworkRxBytes,
                    ["rx_packets"] = 0,
                    ["rx_errors"] = 0,
                    ["rx_dropped"] = 0,
                    ["tx_bytes"] = guest.NetworkTxBytes,
                    ["tx_packets"] = 0,
                    ["tx_errors"] = 0,
                    ["tx_dropped"] = 0,
                },
            },
        };

        static JsonObject Cpu(ContainerStats? sample) => sample is null
            ? new JsonObject { ["cpu_usage"] = new JsonObject { ["total_usage"] = 0 }, ["throttling_data"] = Throttling() }
            : new JsonObject
            {
                ["cpu_usage"] = new JsonObject { ["total_usage"] = sample.CpuNanoseconds, ["usage_in_kernelmode"] = 0, ["usage_in_usermode"] = 0 },
                ["system_cpu_usage"] = sample.ReadAt.ToUnixTimeMilliseconds() * 1_000_000 * sample.Cpus,
                ["online_cpus"] = sample.Cpus,
                ["throttling_data"] = Throttling(),
            };

        static JsonObject Throttling() => new() { ["periods"] = 0, ["throttled_periods"] = 0, ["throttled_time"] = 0 };

        static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z", CultureInfo.InvariantCulture);
    }

    private static async Task PruneAsync(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        FilterArgs.RefuseUnknown(filters, "until", "label", "label!");
        var until = filters.TryGetValue("until", out var untils) ? untils.Select(u => DockerTimestamp.ParseOptional(u, "until")).Min() : null;
        var result = await engine.Runtime.PruneAsync(
            c => (until is null || c.Created < until) && ContainerFilters.MatchesLabels(c, filters),
            context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new JsonObject
        {
            ["ContainersDeleted"] = new JsonArray([.. result.Removed.Select(r => (JsonNode)r)]),
            ["SpaceReclaimed"] = result.SpaceReclaimed,
        }).ConfigureAwait(false);
    }
}
