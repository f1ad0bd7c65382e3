using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Models;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.Api.ContainersApi;

/// <summary><c>docker exec</c>: create, inspect and resize; the start is served by the hijack middleware.</summary>
public static class ExecEndpoints
{
    public static void MapExecEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/containers/{id}/exec", CreateAsync);
        // Attached starts on a fresh connection are served by the hijack middleware; this route takes
        // the rest: detached starts, and attached ones sent on a kept-alive connection.
        routes.MapPost("/exec/{id}/start", StartAsync);
        routes.MapGet("/exec/{id}/json", (HttpContext context, VchEngine engine, string id) => DockerJson.WriteAsync(context, Inspect(engine, id)));
        routes.MapPost("/exec/{id}/resize", async (HttpContext context, VchEngine engine, string id) =>
        {
            var (rows, columns) = Size(context);
            await engine.Runtime.ResizeExecAsync(id, rows, columns, context.RequestAborted).ConfigureAwait(false);
        });
        routes.MapPost("/containers/{id}/resize", async (HttpContext context, VchEngine engine, string id) =>
        {
            var (rows, columns) = Size(context);
            await engine.Runtime.ResizeAsync(id, rows, columns, context.RequestAborted).ConfigureAwait(false);
        });
    }

    private static async Task CreateAsync(HttpContext context, VchEngine engine, string id)
    {
        using (var body = await RequestReading.ReadJsonAsync(context).ConfigureAwait(false))
        {
            var root = body.RootElement;

            // Go's decoder matches field names without regard to case; docker-py sends "detachKeys".
            JsonElement Field(string name) => root.ValueKind == JsonValueKind.Object
                ? root.EnumerateObject().Where(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)).Select(p => p.Value).LastOrDefault()
                : default;
            IReadOnlyList<string> Strings(string name) =>
                Field(name) is { ValueKind: JsonValueKind.Array } v ? [.. v.EnumerateArray().Select(e => e.GetString() ?? "")] : [];
            bool Flag(string name) => Field(name).ValueKind == JsonValueKind.True;
            string Text(string name) => Field(name) is { ValueKind: JsonValueKind.String } v ? v.GetString()! : "";

            if (Text("DetachKeys") is { Length: > 0 } asked)
            {
                Hijack.DetachKeys.Parse(asked); // refused here, as dockerd does, not at start
            }

            var exec = engine.Runtime.CreateExec(id, new ExecOptions(
                Strings("Cmd"), Strings("Env"), Text("WorkingDir"), Text("User"), Flag("Tty"), Flag("AttachStdin"), Flag("AttachStdout"), Flag("AttachStderr"))
            {
                Privileged = Flag("Privileged"),
                DetachKeys = Text("DetachKeys") is { Length: > 0 } keys ? keys : null,
            });
            await DockerJson.WriteAsync(context, new JsonObject { ["Id"] = exec.Id }, StatusCodes.Status201Created).ConfigureAwait(false);
        }
    }

    private static async Task StartAsync(HttpContext context, VchEngine engine, string id)
    {
        var detach = false;
        var tty = false; // the start's, not the create's, as on dockerd
        try
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            detach = body.RootElement.TryGetProperty("Detach", out var d) && d.ValueKind == JsonValueKind.True;
            tty = body.RootElement.TryGetProperty("Tty", out var t) && t.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            // An empty body is a plain attached start.
        }

        var exec = engine.Runtime.Exec(id);
        await engine.Runtime.StartExecAsync(id, detach, context.RequestAborted).ConfigureAwait(false);
        if (detach)
        {
            return;
        }

        // No upgrade: dockerd types it raw-stream whatever the framing.
        context.Response.ContentType = StdStreams.RawContentType;
        await foreach (var chunk in exec.Output.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
        {
            if ((chunk.Stream == PortLayer.Runtime.OutputStream.Stdout && exec.Options.AttachStdout) || (chunk.Stream == PortLayer.Runtime.OutputStream.Stderr && exec.Options.AttachStderr))
            {
                await StdStreams.WriteAsync(context.Response.Body, chunk, tty, context.RequestAborted).ConfigureAwait(false);
            }
        }
    }

    private static JsonObject Inspect(VchEngine engine, string id)
    {
        var exec = engine.Runtime.Exec(id);
        return new JsonObject
        {
            ["ID"] = exec.Id,
            ["Running"] = exec.Running,
            ["ExitCode"] = exec.ExitCode,
            ["ProcessConfig"] = new JsonObject
            {
                ["tty"] = exec.Options.Tty,
                ["entrypoint"] = exec.Options.Args[0],
                ["arguments"] = new JsonArray([.. exec.Options.Args.Skip(1).Select(a => (JsonNode)a)]),
                ["privileged"] = exec.Options.Privileged,
                ["user"] = exec.Options.User,
            },
            ["OpenStdin"] = exec.Options.AttachStdin,
            ["OpenStderr"] = exec.Options.AttachStderr,
            ["OpenStdout"] = exec.Options.AttachStdout,
            ["CanRemove"] = false,
            ["ContainerID"] = exec.ContainerId,
            ["DetachKeys"] = "",
            ["Pid"] = exec.Pid,
        };
    }

    private static (int Rows, int Columns) Size(HttpContext context)
    {
        var query = context.Request.Query;
        return (Models.RequestReading.Integer(query["h"], "h") ?? 24, Models.RequestReading.Integer(query["w"], "w") ?? 80);
    }
}
