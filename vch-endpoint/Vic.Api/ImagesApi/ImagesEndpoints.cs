using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;
using Vic.Api.Filters;
using Vic.Api.Models;
using static Vic.Api.Models.RequestReading;
using Vic.Api.Versioning;
using Vic.ImageStore.Images;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.Api.ImagesApi;

/// <summary>
/// The image routes. Image names contain slashes (<c>127.0.0.1:5000/team/app</c>), so the routes that
/// carry a name take the rest of the path and split the action off its end.
/// </summary>
public static class ImagesEndpoints
{
    public static void MapImagesEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/images/create", Create);
        routes.MapGet("/images/json", List);
        routes.MapPost("/images/prune", Prune);
        routes.MapGet("/distribution/{**name}", DistributionAsync);
        routes.MapPost("/auth", Login);
        routes.MapGet("/images/get", SaveMany);
        routes.MapGet("/images/search", SearchAsync);
        routes.MapPost("/images/load", Load);
        routes.MapGet("/system/df", DiskUsage);
        routes.MapGet("/images/{**rest}", Get);
        routes.MapPost("/images/{**rest}", Post);
        routes.MapDelete("/images/{**rest}", Delete);
    }

    private static async Task Create(HttpContext context, VchEngine engine)
    {
        var query = context.Request.Query;
        var from = query["fromImage"].ToString();
        if (from.Length == 0)
        {
            await ImportAsync(context, engine).ConfigureAwait(false);
            return;
        }

        var reference = PullReference(from, query["tag"].ToString());
        var credentials = RegistryAuthHeader.Decode(context.Request.Headers["X-Registry-Auth"]);
        await PullStream.RunAsync(context, progress => engine.Images.PullAsync(reference, credentials, progress, context.RequestAborted)).ConfigureAwait(false);
    }

    /// <summary>What <c>fromImage</c> and <c>tag</c> name together: a tag, or a digest given as the tag.</summary>
    internal static string PullReference(string image, string tag) =>
        tag.Length == 0 ? image : tag.StartsWith("sha256:", StringComparison.Ordinal) ? $"{image}@{tag}" : $"{image}:{tag}";

    private static async Task ImportAsync(HttpContext context, VchEngine engine)
    {
        var query = context.Request.Query;
        var source = query["fromSrc"].ToString();
        if (source.Length == 0)
        {
            throw PortLayerException.InvalidParameter("fromImage or fromSrc is required");
        }

        using var download = source == "-" ? null : new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        await using var rootfs = download is null
            ? context.Request.Body
            : await OpenUrlAsync(download, source, context.RequestAborted).ConfigureAwait(false);
        var image = await engine.Images.ImportAsync(rootfs, query["repo"], query["tag"], [.. query["changes"].Select(c => c ?? "")], query["message"], context.RequestAborted).ConfigureAwait(false);
        context.Response.ContentType = DockerError.JsonContentType;
        await context.Response.WriteAsync(JsonSerializer.Serialize(new ProgressMessage { Status = image.Id }, DockerJson.Options) + "\r\n", context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<Stream> OpenUrlAsync(HttpClient client, string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw PortLayerException.InvalidParameter($"invalid import source {url}: it must be - or an http(s) URL");
        }

        var response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            response.Dispose();
            throw PortLayerException.InvalidParameter($"import source {url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }

        return await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task SaveMany(HttpContext context, VchEngine engine) =>
        SaveAsync(context, engine, [.. context.Request.Query["names"].Select(n => n ?? "")]);

    private static async Task SaveAsync(HttpContext context, VchEngine engine, IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            throw PortLayerException.InvalidParameter("no image names given to save");
        }

        foreach (var name in names)
        {
            engine.Images.Resolve(name);
        }

        context.Response.ContentType = "application/x-tar";
        await engine.Images.SaveAsync(names, context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>docker load</c>. As on dockerd the answer is a 200 JSON stream and an archive it cannot
    /// load ends it with an <c>error</c> message (docker-py raises ImageLoadError on that, not on a status).
    /// </summary>
    private static async Task Load(HttpContext context, VchEngine engine)
    {
        context.Response.ContentType = DockerError.JsonContentType;
        string[] lines;
        try
        {
            var loaded = await engine.Images.LoadAsync(context.Request.Body, context.RequestAborted).ConfigureAwait(false);
            lines = [.. loaded.SelectMany(image => image.Tags.Count == 0 ? [$"Loaded image ID: {image.Id}\n"] : image.Tags.Select(t => $"Loaded image: {t}\n"))];
        }
        catch (PortLayerException ex) when (ex.Kind == ErrorKind.InvalidParameter)
        {
            await context.Response.WriteAsync(JsonSerializer.Serialize(new ProgressMessage { Error = ex.Message, ErrorDetail = new ErrorDetail(ex.Message) }, DockerJson.Options) + "\r\n", context.RequestAborted).ConfigureAwait(false);
            return;
        }

        foreach (var line in lines)
        {
            await context.Response.WriteAsync(JsonSerializer.Serialize(new StreamMessage(line), DockerJson.Options) + "\r\n", context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task DiskUsage(HttpContext context, VchEngine engine)
    {
        // API 1.42 added ?type= (container, image, volume, build-cache): only those are counted, the
        // others are null, and an unknown one is refused, as dockerd does.
        var types = context.Request.Query["type"];
        var version = context.ApiVersion();
        var everything = types.Count == 0 || version < new ApiVersion(1, 42);
        foreach (var type in everything ? [] : types.ToArray())
        {
            if (type is not ("container" or "image" or "volume" or "build-cache"))
            {
                throw PortLayerException.InvalidParameter($"unknown object type: {type}");
            }
        }

        bool Wanted(string type) => everything || types.Contains(type);
        return DockerJson.WriteAsync(context, new DiskUsageResponse(
            Wanted("image") ? engine.Images.LayersSize : 0,
            Wanted("image") ? [.. engine.Images.Catalog.List().Select(i => new ImageSummary(i.Id, "", i.RepoTags, i.RepoDigests, i.Created.ToUnixTimeSeconds(), i.Size, engine.Images.SharedSize(i), i.Size, i.Labels, engine.Images.ContainersUsing(i)))] : null,
            Wanted("container") ? [.. engine.Containers.List().Select(c => (object)ContainersApi.ContainerViews.Summary(c, engine.Time.GetUtcNow(), engine.Volumes).Also(s => s["SizeRw"] = engine.Runtime.DiskUsage(c.Id)))] : null,
            Wanted("volume") ? [.. engine.Volumes.List().Select(v => (object)VolumesApi.VolumesEndpoints.View(engine, v).Also(view => view["UsageData"] = new System.Text.Json.Nodes.JsonObject
            {
                ["Size"] = engine.Volumes.SizeOf(v.Name),
                ["RefCount"] = engine.Volumes.UsedBy(v.Name).Count,
            }))] : null,
            Wanted("build-cache") ? [] : null));
    }

    private static Task List(HttpContext context, VchEngine engine)
    {
        var all = context.Request.Query["all"] is [var a] && (a == "1" || string.Equals(a, "true", StringComparison.OrdinalIgnoreCase));
        var images = engine.Images.List(FilterArgs.Parse(context.Request.Query["filters"]), all);
        var containers = engine.Containers.List();
        return DockerJson.WriteAsync(context, images.Select(i => new ImageSummary(
            i.Id,
            i.Parent ?? "",
            i.RepoTags,
            i.RepoDigests,
            i.Created.ToUnixTimeSeconds(),
            i.Size,
            -1,
            i.Size,
            i.Labels,
            containers.Count(c => c.ImageId == i.Id || c.Image == i.Id))).ToList());
    }

    private static async Task Prune(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        FilterArgs.RefuseUnknown(filters, "dangling", "until", "label", "label!");
        var all = filters.TryGetValue("dangling", out var dangling) && dangling.Any(d => d is "false" or "0");
        // until is a point in time; several mean the earliest, as dockerd takes them.
        var until = filters.TryGetValue("until", out var untils) ? untils.Select(u => DockerTimestamp.ParseOptional(u, "until")).Min() : null;
        var report = engine.Images.Prune(all, image => (until is null || image.Created < until) && FilterArgs.MatchesLabels(image.Labels, filters));
        await DockerJson.WriteAsync(context, new ImagePruneResponse(
            [.. report.Deleted.Select(d => new ImageDeleteResponseItem { Untagged = d.Untagged, Deleted = d.Deleted })],
            report.SpaceReclaimed)).ConfigureAwait(false);
    }

    private static async Task DistributionAsync(HttpContext context, VchEngine engine, string name)
    {
        if (!name.EndsWith("/json", StringComparison.Ordinal))
        {
            throw new PortLayerException(ErrorKind.NotFound, "page not found");
        }

        var credentials = RegistryAuthHeader.Decode(context.Request.Headers["X-Registry-Auth"]);
        var (descriptor, platforms) = await engine.Images.InspectDistributionAsync(name[..^"/json".Length], credentials, context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new JsonObject
        {
            ["Descriptor"] = new JsonObject { ["mediaType"] = descriptor.MediaType, ["digest"] = descriptor.Digest, ["size"] = descriptor.Size },
            ["Platforms"] = new JsonArray([.. platforms.Select(p => (JsonNode)new JsonObject
            {
                ["architecture"] = p.Architecture,
                ["os"] = p.Os,
            }.Also(o =>
            {
                // omitempty, as dockerd's OCI platform: no "variant": null.
                if (!string.IsNullOrEmpty(p.Variant))
                {
                    o["variant"] = p.Variant;
                }
            }))]),
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>docker search</c>, answered from the registry's catalog (see <c>ImageService.SearchAsync</c>);
    /// filters as dockerd takes them: <c>is-official</c>, <c>is-automated</c> and <c>stars</c>.
    /// </summary>
    private static async Task SearchAsync(HttpContext context, VchEngine engine)
    {
        var query = context.Request.Query;
        var term = query["term"].ToString();
        if (term.Length == 0)
        {
            throw PortLayerException.InvalidParameter("term is required (docker search TERM)");
        }

        var limit = Integer(query["limit"], "limit") is { } asked and > 0 ? Math.Min(asked, 100) : 25;
        var filters = FilterArgs.Parse(query["filters"]);
        foreach (var key in filters.Keys.Where(k => k is not ("is-official" or "is-automated" or "stars")))
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        bool? Wanted(string key) => filters.TryGetValue(key, out var values)
            ? values.Select(v => bool.TryParse(v, out var b) ? b : throw PortLayerException.InvalidParameter($"invalid filter '{key}={v}'")).Last()
            : null;
        var official = Wanted("is-official");
        var automated = Wanted("is-automated");
        var stars = filters.TryGetValue("stars", out var starValues)
            ? starValues.Select(v => int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : throw PortLayerException.InvalidParameter($"invalid filter 'stars={v}'")).Max()
            : 0;

        var results = await engine.Images.SearchAsync(term, limit, RegistryAuthHeader.Decode(context.Request.Headers["X-Registry-Auth"]), context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new JsonArray([.. results
            .Where(r => (official is null || r.IsOfficial == official) && automated is not true && stars <= 0)
            .Select(r => (JsonNode)new JsonObject
            {
                ["star_count"] = 0,
                ["is_official"] = r.IsOfficial,
                ["name"] = r.Name,
                ["is_automated"] = false,
                ["description"] = "",
            })])).ConfigureAwait(false);
    }

    private static async Task Login(HttpContext context, VchEngine engine)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        var credentials = RegistryAuthHeader.Parse(body) ?? throw PortLayerException.InvalidParameter("username and password are required");
        using var json = JsonDocument.Parse(body);
        var server = json.RootElement.TryGetProperty("serveraddress", out var s) ? s.GetString() : null;
        await engine.Images.LoginAsync(RegistryAuthHeader.RegistryOf(server), credentials, context.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(context, new AuthResponse("Login Succeeded", "")).ConfigureAwait(false);
    }

    private static Task Get(HttpContext context, VchEngine engine, string rest)
    {
        if (Split(rest, "json") is { } inspected)
        {
            return DockerJson.WriteAsync(context, Inspect(engine, inspected, context.ApiVersion()));
        }

        if (Split(rest, "get") is { } saved)
        {
            return SaveAsync(context, engine, [saved]);
        }

        if (Split(rest, "history") is { } name)
        {
            return DockerJson.WriteAsync(context, engine.Images.History(name).Select(h => new HistoryResponseItem(
                h.Id, h.Created.ToUnixTimeSeconds(), h.CreatedBy, h.Tags.Count == 0 ? null : h.Tags, h.Size, h.Comment)).ToList());
        }

        return Unbuilt(context);
    }

    private static Task Post(HttpContext context, VchEngine engine, string rest)
    {
        if (Split(rest, "tag") is { } source)
        {
            var repository = context.Request.Query["repo"].ToString();
            if (repository.Length == 0)
            {
                throw PortLayerException.InvalidParameter("repository name (repo) is required");
            }

            engine.Images.Tag(source, repository, context.Request.Query["tag"]);
            context.Response.StatusCode = StatusCodes.Status201Created;
            return Task.CompletedTask;
        }

        if (Split(rest, "push") is { } pushed)
        {
            var credentials = RegistryAuthHeader.Decode(context.Request.Headers["X-Registry-Auth"]);
            return PullStream.RunAsync(context, progress => engine.Images.PushAsync(pushed, context.Request.Query["tag"], credentials, progress, context.RequestAborted));
        }

        return Unbuilt(context);
    }

    private static Task Delete(HttpContext context, VchEngine engine, string rest)
    {
        var force = IsTrue(context.Request.Query["force"]);
        var prune = !IsTrue(context.Request.Query["noprune"]);
        var deleted = engine.Images.Remove(rest, force, prune);
        return DockerJson.WriteAsync(context, deleted.Select(d => new ImageDeleteResponseItem { Untagged = d.Untagged, Deleted = d.Deleted }).ToList());
    }

    /// <summary>An image's config as dockerd shows it: every field of a container config, null or empty where the image sets none.</summary>
    private static JsonObject ConfigView(JsonNode? stored)
    {
        var view = new JsonObject
        {
            ["Hostname"] = "",
            ["Domainname"] = "",
            ["User"] = "",
            ["AttachStdin"] = false,
            ["AttachStdout"] = false,
            ["AttachStderr"] = false,
            ["Tty"] = false,
            ["OpenStdin"] = false,
            ["StdinOnce"] = false,
            ["Env"] = null,
            ["Cmd"] = null,
            ["Image"] = "",
            ["Volumes"] = null,
            ["WorkingDir"] = "",
            ["Entrypoint"] = null,
            ["OnBuild"] = null,
            ["Labels"] = null,
        };
        foreach (var (key, value) in stored as JsonObject ?? [])
        {
            view[key] = value?.DeepClone();
        }

        return view;
    }

    private static JsonObject Inspect(VchEngine engine, string name, ApiVersion version)
    {
        var details = engine.Images.Inspect(name);
        var image = details.Record;
        var config = JsonNode.Parse(details.Config)!.AsObject();
        var inspect = new JsonObject
        {
            ["Id"] = image.Id,
            ["RepoTags"] = new JsonArray([.. image.RepoTags.Select(t => (JsonNode)t)]),
            ["RepoDigests"] = new JsonArray([.. image.RepoDigests.Select(t => (JsonNode)t)]),
            ["Parent"] = image.Parent ?? "",
            ["Comment"] = config["comment"]?.DeepClone() ?? "",
            ["Created"] = config["created"]?.DeepClone() ?? image.Created.ToString("O"),
            ["DockerVersion"] = config["docker_version"]?.DeepClone() ?? "",
            ["Author"] = config["author"]?.DeepClone() ?? "",
            ["Config"] = ConfigView(config["config"]),
            ["Architecture"] = config["architecture"]?.DeepClone() ?? "amd64",
            ["Os"] = config["os"]?.DeepClone() ?? "linux",
            ["Size"] = image.Size,
            ["GraphDriver"] = new JsonObject
            {
                ["Name"] = "vmdk",
                ["Data"] = new JsonObject { ["Layers"] = string.Join(':', details.Layers.Select(l => engine.Images.Layers.Find(l)?.DiskPath ?? "")) },
            },
            ["RootFS"] = new JsonObject { ["Type"] = "layers", ["Layers"] = new JsonArray([.. details.Layers.Select(l => (JsonNode)l)]) },
            ["Metadata"] = new JsonObject { ["LastTagTime"] = image.Stored.ToString("O") },
        };
        if (version < new ApiVersion(1, 44))
        {
            inspect["VirtualSize"] = image.Size;
        }

        // API 1.45 dropped both; dockerd still answers them to older clients (docker-py 5 speaks 1.41).
        if (version < new ApiVersion(1, 45))
        {
            inspect["Container"] = config["container"]?.DeepClone() ?? "";
            inspect["ContainerConfig"] = ConfigView(config["container_config"]);
        }

        return inspect;
    }

    /// <summary>"team/app:1/json" with action "json" gives "team/app:1".</summary>
    private static string? Split(string rest, string action) =>
        rest.EndsWith("/" + action, StringComparison.Ordinal) && rest.Length > action.Length + 1 ? rest[..^(action.Length + 1)] : null;

    private static Task Unbuilt(HttpContext context) =>
        DockerError.WriteAsync(context, StatusCodes.Status501NotImplemented, $"{context.Request.Method} {context.Request.Path} is not implemented by this VCH yet");
}
