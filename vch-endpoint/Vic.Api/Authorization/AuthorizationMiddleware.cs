using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Vic.PortLayer.Errors;

namespace Vic.Api.Authorization;

/// <summary>
/// Every HTTP call passes here after its version prefix is gone: the policy (when the VCH has one)
/// decides whether the caller may make it, and the audit log gets a line for each call that changes
/// something and for each refusal. Attach and exec start take the same path inside the hijack.
/// </summary>
public sealed class AuthorizationMiddleware(RequestDelegate next, AuditLog audit, TimeProvider time, AccessGuard? guard = null)
{
    /// <summary>A create body larger than this is refused: no container's settings come near it.</summary>
    private const int MaxInspectedBody = 4 << 20;

    public async Task InvokeAsync(HttpContext context)
    {
        var call = ApiCallClassifier.Classify(context.Request.Method, context.Request.Path.Value ?? "/");
        var user = CallerIdentity.UserOf(context);
        if (call.Route == "/commit" && context.Request.Query["container"].ToString() is { Length: > 0 } committed)
        {
            call = call with { TargetKind = CallTarget.Container, Target = committed };
        }

        try
        {
            if (guard is not null)
            {
                guard.Check(user, call, await DetailsAsync(context, call).ConfigureAwait(false));
            }
        }
        catch (PortLayerException ex)
        {
            Record(context, user, call, Errors.DockerError.StatusFor(ex.Kind), ex.Kind == ErrorKind.Forbidden ? "denied" : "failed", ex.Message);
            throw;
        }

        if (!call.Mutates)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
            Record(context, user, call, context.Response.StatusCode, context.Response.StatusCode < 400 ? "allowed" : "failed");
        }
        catch (PortLayerException ex)
        {
            Record(context, user, call, Errors.DockerError.StatusFor(ex.Kind), "failed", ex.Message);
            throw;
        }
        catch (OperationCanceledException)
        {
            // The client went away mid-call (a pull or build called off): what it started is still on record.
            Record(context, user, call, 499, "canceled");
            throw;
        }
        catch (Exception ex)
        {
            Record(context, user, call, StatusCodes.Status500InternalServerError, "failed", ex.Message);
            throw;
        }
    }

    private void Record(HttpContext context, string user, ApiCall call, int status, string outcome, string? message = null) =>
        audit.Write(new AuditEntry(time.GetUtcNow(), user, CallerIdentity.RemoteOf(context), call.Method, call.Route, call.Target ?? TargetOf(context), call.Right.ToString().ToLowerInvariant(), status, outcome, message));

    /// <summary>Names the query gives for calls whose path has none (pull, import, build, create).</summary>
    private static string? TargetOf(HttpContext context)
    {
        var query = context.Request.Query;
        foreach (var key in new[] { "fromImage", "repo", "t", "name", "container" })
        {
            if (query[key].ToString() is { Length: > 0 } value)
            {
                return value;
            }
        }

        return null;
    }

    private static async Task<CallDetails> DetailsAsync(HttpContext context, ApiCall call)
    {
        var query = context.Request.Query;
        switch (call.Route)
        {
            case "/containers/create":
                return await CreateDetailsAsync(context.Request).ConfigureAwait(false);
            case "/images/create":
                var image = query["fromImage"].ToString();
                return new CallDetails(
                    [image.Length > 0 ? ImagesApi.ImagesEndpoints.PullReference(image, query["tag"].ToString()) : query["repo"].ToString()],
                    null,
                    false);
            case "/images/{name}/tag":
            case "/commit":
                return new CallDetails([query["repo"].ToString()], null, false);
            case "/build":
                return new CallDetails([.. query["t"].Select(t => t ?? "")], null, false);
            default:
                return CallDetails.None;
        }
    }

    /// <summary>The containers a create reaches into: <c>--volumes-from</c> (NAME[:ro]) and <c>--link</c> (NAME[:ALIAS]).</summary>
    private static List<string> ReferencedContainers(JsonElement create)
    {
        var names = new List<string>();
        if (create.TryGetProperty("HostConfig", out var host) && host.ValueKind == JsonValueKind.Object)
        {
            foreach (var field in new[] { "VolumesFrom", "Links" })
            {
                if (host.TryGetProperty(field, out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    names.AddRange(list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!.Split(':')[0].TrimStart('/')));
                }
            }
        }

        return names;
    }

    /// <summary>The create body's image and labels; the body is left for the route to read again.</summary>
    private static async Task<CallDetails> CreateDetailsAsync(HttpRequest request)
    {
        request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: MaxInspectedBody);
        JsonDocument body;
        try
        {
            body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            throw PortLayerException.InvalidParameter($"the create body is larger than {MaxInspectedBody >> 20} MiB");
        }
        catch (JsonException)
        {
            // Malformed: the route gives dockerd's answer for that; there is nothing to grant on.
            request.Body.Position = 0;
            return new CallDetails([], null, true);
        }

        using (body)
        {
            request.Body.Position = 0;
            var root = body.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return new CallDetails([], null, true);
            }

            var image = root.TryGetProperty("Image", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object)
            {
                foreach (var label in l.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String))
                {
                    labels[label.Name] = label.Value.GetString()!;
                }
            }

            return new CallDetails([image], labels, true) { Containers = ReferencedContainers(root) };
        }
    }
}
