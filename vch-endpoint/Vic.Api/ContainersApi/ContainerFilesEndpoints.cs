using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Vic.Api.Models;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.ContainersApi;

/// <summary>The routes over a container's files: archive (docker cp both ways), export, changes (diff), and commit.</summary>
public static partial class ContainerFilesEndpoints
{
    /// <summary>The header docker cp reads the path's description from: base64 of JSON.</summary>
    public const string PathStatHeader = "X-Docker-Container-Path-Stat";

    private const string TarContentType = "application/x-tar";

    public static void MapContainerFilesEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/containers/{id}/archive", ["HEAD"], (HttpContext context, VchEngine engine, string id) =>
            UseFilesAsync(engine, id, context, async files =>
            {
                context.Response.Headers[PathStatHeader] = Encode(await files.StatAsync(PathOf(context), context.RequestAborted).ConfigureAwait(false));
                return true;
            }, context.RequestAborted));
        routes.MapGet("/containers/{id}/archive", (HttpContext context, VchEngine engine, string id) =>
            UseFilesAsync(engine, id, context, async files =>
            {
                var path = PathOf(context);
                context.Response.Headers[PathStatHeader] = Encode(await files.StatAsync(path, context.RequestAborted).ConfigureAwait(false));
                context.Response.ContentType = TarContentType;
                await StreamAsync(context, () => files.GetAsync(path, context.Response.Body, context.RequestAborted)).ConfigureAwait(false);
                engine.Containers.Transition(id, (_, s) => s, "archive-path");
                return true;
            }, context.RequestAborted));
        routes.MapPut("/containers/{id}/archive", (HttpContext context, VchEngine engine, string id) =>
            UseFilesAsync(engine, id, context, async files =>
            {
                await files.PutAsync(PathOf(context), context.Request.Body, IsTrue(context.Request.Query["noOverwriteDirNonDir"]), context.RequestAborted).ConfigureAwait(false);
                engine.Containers.Transition(id, (_, s) => s, "extract-to-dir");
                return true;
            }, context.RequestAborted));
        routes.MapGet("/containers/{id}/export", (HttpContext context, VchEngine engine, string id) =>
            UseFilesAsync(engine, id, context, async files =>
            {
                context.Response.ContentType = TarContentType;
                await StreamAsync(context, () => files.ExportAsync(context.Response.Body, context.RequestAborted)).ConfigureAwait(false);
                engine.Containers.Transition(id, (_, s) => s, "export");
                return true;
            }, context.RequestAborted));
        routes.MapGet("/containers/{id}/changes", async (HttpContext context, VchEngine engine, string id) =>
        {
            var changes = await engine.Runtime.UseFilesAsync(id, files => files.ChangesAsync(context.RequestAborted), context.RequestAborted).ConfigureAwait(false);
            await DockerJson.WriteAsync(context, new JsonArray([.. changes.Select(c => (JsonNode)new JsonObject { ["Path"] = c.Path, ["Kind"] = (int)c.Kind })])).ConfigureAwait(false);
        });
        routes.MapPost("/commit", CommitAsync);
    }

    /// <summary>
    /// A tar that fails half way cannot become an error document any more: the failure is logged
    /// and the connection cut, so the client sees a truncated stream rather than a whole one.
    /// </summary>
    private static async Task StreamAsync(HttpContext context, Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (Exception ex) when (context.Response.HasStarted && ex is not OperationCanceledException)
        {
            var logger = context.RequestServices.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("Vic.Api.ContainerFiles");
            Log.TransferCut(logger, context.Request.Path, $"{ex.GetType().Name}: {ex.Message}");
            context.Abort();
        }
    }

    private static partial class Log
    {
        [Microsoft.Extensions.Logging.LoggerMessage(EventId = 1101, Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "{Path}: the transfer failed after it started and was cut: {Reason}")]
        public static partial void TransferCut(Microsoft.Extensions.Logging.ILogger logger, string path, string reason);
    }

    /// <summary>The handlers return a bare Task: a result value would be written after the tar as JSON.</summary>
    private static Task UseFilesAsync(VchEngine engine, string id, HttpContext context, Func<ContainerFiles, Task<bool>> work, CancellationToken cancellationToken) =>
        engine.Runtime.UseFilesAsync(id, work, cancellationToken);

    private static string PathOf(HttpContext context) =>
        context.Request.Query["path"].ToString() is { Length: > 0 } path ? path : throw PortLayerException.InvalidParameter("path cannot be empty");

    private static string Encode(ContainerPathStat stat) =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["name"] = stat.Name,
            ["size"] = stat.Size,
            ["mode"] = stat.Mode,
            ["mtime"] = stat.Mtime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["linkTarget"] = stat.LinkTarget,
        }));

    private static async Task CommitAsync(HttpContext context, VchEngine engine)
    {
        var query = context.Request.Query;
        var container = query["container"].ToString();
        if (container.Length == 0)
        {
            throw PortLayerException.InvalidParameter("container name or ID cannot be empty");
        }

        var options = new CommitOptions(
            query["repo"].ToString(),
            query["tag"].ToString(),
            query["comment"].ToString(),
            query["author"].ToString(),
            [.. query["changes"].Where(c => c is not null).SelectMany(c => c!.Split('\n'))],
            !query.ContainsKey("pause") || IsTrue(query["pause"]));
        var id = await engine.Runtime.CommitAsync(container, options, context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new JsonObject { ["Id"] = id }, StatusCodes.Status201Created).ConfigureAwait(false);
    }
}
