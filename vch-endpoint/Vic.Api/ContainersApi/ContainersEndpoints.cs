using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;
using Vic.Api.Filters;
using Vic.Api.Models;
using Vic.Api.Versioning;
using static Vic.Api.Models.RequestReading;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.Api.ContainersApi;

/// <summary>The basic container lifecycle routes: create, start, attach, wait, logs, list, inspect, stop, kill, remove.</summary>
public static class ContainersEndpoints
{
    public static void MapContainersEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/containers/create", CreateAsync);
        routes.MapGet("/containers/json", List);
        routes.MapGet("/containers/{id}/json", (HttpContext context, VchEngine engine, string id) =>
        {
            var record = engine.Containers.Resolve(id);
            var (pid, execIds) = engine.Runtime.ProcessesOf(record.Id);
            return DockerJson.WriteAsync(context, ContainerViews.Inspect(record, engine.Config.DataDirectory, engine.Volumes, record.Status.IsRunning ? pid : 0, execIds));
        });
        routes.MapPost("/containers/{id}/start", async (HttpContext context, VchEngine engine, string id) =>
        {
            await engine.Runtime.StartAsync(id, context.RequestAborted).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapPost("/containers/{id}/wait", WaitAsync);
        // POST /containers/{id}/attach is served by Hijack.HijackConnectionMiddleware, below Kestrel.
        routes.MapGet("/containers/{id}/logs", LogsAsync);
        routes.MapPost("/containers/{id}/stop", async (HttpContext context, VchEngine engine, string id) =>
        {
            var t = Integer(context.Request.Query["t"], "t");
            var signal = context.Request.Query["signal"].ToString();
            await engine.Runtime.StopAsync(id, t, context.RequestAborted, signal.Length > 0 ? signal : null).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapPost("/containers/{id}/kill", async (HttpContext context, VchEngine engine, string id) =>
        {
            await engine.Runtime.KillAsync(id, context.Request.Query["signal"].ToString() is { Length: > 0 } s ? s : "KILL", context.RequestAborted).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        routes.MapDelete("/containers/{id}/{link}", (HttpContext context, VchEngine engine, string id, string link) =>
        {
            // rm --link parent/alias: a path of two names; without link=1 it names no container.
            if (!IsTrue(context.Request.Query["link"]))
            {
                throw PortLayerException.NotFound($"No such container: {id}/{link}");
            }

            engine.Runtime.RemoveLink($"{id}/{link}");
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        routes.MapDelete("/containers/{id}", async (HttpContext context, VchEngine engine, string id) =>
        {
            await engine.Runtime.RemoveAsync(id, IsTrue(context.Request.Query["force"]), context.RequestAborted, removeVolumes: IsTrue(context.Request.Query["v"])).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
    }

    private static async Task CreateAsync(HttpContext context, VchEngine engine)
    {
        using (var body = await ReadJsonAsync(context).ConfigureAwait(false))
        {
            var warnings = new List<string>();
            var (image, labels, config) = CreateRequest.Parse(body.RootElement, warnings);
            CreateRequest.CheckPlatform(context.Request.Query["platform"], image);
            var name = context.Request.Query["name"].ToString();
            var record = engine.Runtime.Create(name.Length > 0 ? name : null, image, labels, config);
            await DockerJson.WriteAsync(context, new JsonObject { ["Id"] = record.Id, ["Warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode)w)]) }, StatusCodes.Status201Created).ConfigureAwait(false);
        }
    }

    private static Task List(HttpContext context, VchEngine engine)
    {
        var query = context.Request.Query;
        var filters = FilterArgs.Parse(query["filters"]);

        // As dockerd: asking for a status, or for the last n created, includes stopped containers.
        var limit = Integer(query["limit"], "limit") ?? -1;
        var limited = limit > 0;
        var all = IsTrue(query["all"]) || filters.ContainsKey("status") || limited;
        IEnumerable<ContainerRecord> containers = engine.Containers.List();
        if (!all)
        {
            containers = containers.Where(c => c.Status.IsRunning);
        }

        containers = containers.Where(ContainerFilters.Build(filters, engine));
        if (limited)
        {
            containers = containers.Take(limit);
        }

        var now = engine.Time.GetUtcNow();
        var size = IsTrue(query["size"]);
        return DockerJson.WriteAsync(context, new JsonArray([.. containers.Select(c => (JsonNode)WithSize(ContainerViews.Summary(c, now, engine.Volumes), c))]));

        JsonObject WithSize(JsonObject summary, ContainerRecord c)
        {
            if (size)
            {
                // The writable layer is the container's own files; the root adds the image beneath.
                var own = engine.Runtime.DiskUsage(c.Id);
                summary["SizeRw"] = own;
                summary["SizeRootFs"] = own + (engine.Images.Catalog.Find(c.ImageId)?.Size ?? 0);
            }

            return summary;
        }
    }

    private static async Task WaitAsync(HttpContext context, VchEngine engine, string id)
    {
        var condition = context.Request.Query["condition"].ToString() switch
        {
            "" or "not-running" => WaitCondition.NotRunning,
            "next-exit" => WaitCondition.NextExit,
            "removed" => WaitCondition.Removed,
            var other => throw PortLayerException.InvalidParameter($"invalid condition: \"{other}\""),
        };
        engine.Containers.Resolve(id);

        // The CLI calls wait before start and reads nothing until the end: the headers go out now.
        context.Response.ContentType = DockerError.JsonContentType;
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        var code = await engine.Runtime.WaitAsync(id, condition, context.RequestAborted).ConfigureAwait(false);
        await context.Response.WriteAsync(JsonSerializer.Serialize(new JsonObject { ["Error"] = null, ["StatusCode"] = code }) + "\n", context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task LogsAsync(HttpContext context, VchEngine engine, string id)
    {
        var query = context.Request.Query;
        var follow = IsTrue(query["follow"]);
        var timestamps = IsTrue(query["timestamps"]);
        var since = DockerTimestamp.ParseOptional(query["since"], "since");
        var until = DockerTimestamp.ParseOptional(query["until"], "until");
        var stdout = IsTrue(query["stdout"]);
        var stderr = IsTrue(query["stderr"]);
        if (!stdout && !stderr)
        {
            throw PortLayerException.InvalidParameter("Bad parameters: you must choose at least one stream");
        }

        var record = engine.Containers.Resolve(id);
        var tty = record.Config.Tty;
        var (history, live) = engine.Runtime.Logs(id, follow);
        IEnumerable<OutputChunk> selected = history.SelectMany(Lines).Where(c => (since is null || c.Time >= since) && (until is null || c.Time <= until) && Wanted(c));
        if (query["tail"].ToString() is { Length: > 0 } tail && tail != "all" && int.TryParse(tail, NumberStyles.None, CultureInfo.InvariantCulture, out var lines))
        {
            selected = selected.TakeLast(lines);
        }

        context.Response.ContentType = StdStreams.ContentType(tty, context.ApiVersion());
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        foreach (var chunk in selected)
        {
            await StdStreams.WriteAsync(context.Response.Body, Stamp(chunk), tty, context.RequestAborted).ConfigureAwait(false);
        }

        if (live is not null)
        {
            await foreach (var chunk in live.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
            {
                foreach (var line in Lines(chunk).Where(l => Wanted(l) && (until is null || l.Time <= until)))
                {
                    await StdStreams.WriteAsync(context.Response.Body, Stamp(line), tty, context.RequestAborted).ConfigureAwait(false);
                }
            }
        }

        bool Wanted(OutputChunk c) => c.Stream == OutputStream.Stdout ? stdout : stderr;

        OutputChunk Stamp(OutputChunk c) => timestamps
            ? c with { Data = [.. Encoding.UTF8.GetBytes(c.Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z ", CultureInfo.InvariantCulture)), .. c.Data] }
            : c;
    }

    /// <summary>Splits a chunk at its newlines: --tail and --timestamps count lines, not reads.</summary>
    private static IEnumerable<OutputChunk> Lines(OutputChunk chunk)
    {
        var start = 0;
        for (var i = 0; i < chunk.Data.Length; i++)
        {
            if (chunk.Data[i] == (byte)'\n')
            {
                yield return chunk with { Data = chunk.Data[start..(i + 1)] };
                start = i + 1;
            }
        }

        if (start < chunk.Data.Length)
        {
            yield return chunk with { Data = chunk.Data[start..] };
        }
    }

}
