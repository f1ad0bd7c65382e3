using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;
using Vic.Api.Filters;
using Vic.Api.ImagesApi;
using Vic.Api.Models;
using Vic.Build;
using Vic.Build.Context;
using Vic.Build.Steps;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;
using Vic.Registry;
using static Vic.Api.Models.RequestReading;

namespace Vic.Api.BuildApi;

/// <summary>
/// <c>POST /build</c> as the classic builder answers it (what docker CLI 28 uses without buildx, and
/// with <c>DOCKER_BUILDKIT=0</c>): the body is the context, the query the options, and the answer a
/// JSON stream of <c>stream</c> lines, an <c>aux</c> with the image id, or an <c>errorDetail</c>.
/// </summary>
public static class BuildEndpoints
{
    /// <summary>Options of <c>docker build</c> a VM-based builder has no use for; taken without a word only when left at their defaults.</summary>
    private static readonly string[] Refused = ["squash", "outputs", "cpusetcpus", "cpusetmems", "cgroupparent", "isolation", "session"];

    public static void MapBuildEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/build", BuildAsync);
        routes.MapPost("/build/prune", Prune);
    }

    private static async Task BuildAsync(HttpContext context, VchEngine engine)
    {
        var options = ReadOptions(context, out var remote, out var warnings);
        var scratch = Path.Combine(engine.Config.DataDirectory, "tmp");
        var folder = Path.Combine(scratch, $"build-{Guid.NewGuid():N}");
        using var buildContext = remote.Length > 0
            ? await RemoteContextAsync(remote, folder, engine.Config.LayerCapacityBytes, context.RequestAborted).ConfigureAwait(false)
            : await UnpackAsync(context, folder, engine.Config.LayerCapacityBytes).ConfigureAwait(false);

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = DockerError.JsonContentType;
        using var output = new StreamOutput(context);
        foreach (var warning in warnings)
        {
            await output.WriteAsync($"[Warning] {warning}\n", context.RequestAborted).ConfigureAwait(false);
        }

        try
        {
            var builder = new DockerfileBuilder(engine.Images, engine.Runtime, scratch);
            var id = await builder.BuildAsync(buildContext, options, output, context.RequestAborted).ConfigureAwait(false);
            if (options.Quiet)
            {
                await output.WriteAsync(id + "\n", context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            // The status line is gone: whatever stopped the build ends the stream, as dockerd's errors do.
            var code = ex is BuildException build ? build.Code : 1;
            await output.WriteMessageAsync(new ProgressMessage { Error = ex.Message, ErrorDetail = new ErrorDetail(ex.Message) { Code = code } }, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task Prune(HttpContext context, VchEngine engine)
    {
        var filters = FilterArgs.Parse(context.Request.Query["filters"]);
        FilterArgs.RefuseUnknown(filters, "until", "unused-for");
        if (context.Request.Query["keep-storage"].ToString() is not ("" or "0"))
        {
            throw PortLayerException.InvalidParameter("keep-storage is not supported by this VCH's build cache: it frees all of it or, with filters, what they pick");
        }

        var until = filters.Where(f => f.Key is "until" or "unused-for").SelectMany(f => f.Value).Select(u => DockerTimestamp.ParseOptional(u, "until")).Min();
        var (deleted, reclaimed) = engine.Images.PruneBuildCache(image => until is null || image.Stored < until);
        return DockerJson.WriteAsync(context, new BuildPruneResponse(deleted, reclaimed));
    }

    private static BuildOptions ReadOptions(HttpContext context, out string remote, out List<string> warnings)
    {
        var query = context.Request.Query;
        // The first value, as Go's FormValue takes it: docker-py sends dockerfile twice (name, then text) for one outside the context.
        string Q(string name) => query[name].FirstOrDefault() ?? "";
        warnings = [];
        if (Q("version") == "2")
        {
            throw PortLayerException.InvalidParameter("BuildKit is not supported by this VCH: build with the classic builder (DOCKER_BUILDKIT=0)");
        }

        foreach (var name in Refused.Where(n => Q(n) is not ("" or "0" or "false" or "[]" or "null")))
        {
            throw PortLayerException.InvalidParameter($"{name} is not supported by this VCH's builder");
        }

        if (Q("platform") is not ("" or "linux/amd64" or "linux") and var platform)
        {
            throw PortLayerException.InvalidParameter($"this VCH builds for linux/amd64 only, not --platform={platform}");
        }

        foreach (var name in new[] { "cpushares", "cpuperiod", "cpuquota", "shmsize", "memswap", "ulimits" }.Where(n => Q(n) is not ("" or "0" or "-1" or "[]" or "null")))
        {
            warnings.Add($"{name} is not applied by this VCH's builder: every RUN has a ContainerVM of its own, sized by --memory");
        }


        remote = Q("remote");
        return new BuildOptions
        {
            Dockerfile = Q("dockerfile") is { Length: > 0 } dockerfile ? dockerfile : "Dockerfile",
            Tags = [.. query["t"].OfType<string>().Where(t => t.Length > 0).Select(ValidTag)],
            BuildArgs = JsonMap(Q("buildargs"), "buildargs"),
            Target = Q("target") is { Length: > 0 } target ? target : null,
            NoCache = IsTrue(Q("nocache")),
            Pull = Q("pull") is not ("" or "0" or "false"),
            RemoveIntermediate = Q("rm") is "" || IsTrue(Q("rm")),
            ForceRemove = IsTrue(Q("forcerm")),
            Quiet = IsTrue(Q("q")),
            Labels = JsonMap(Q("labels"), "labels").ToDictionary(l => l.Key, l => l.Value ?? ""),
            NetworkMode = Q("networkmode") is { Length: > 0 } network ? network : "default",
            ExtraHosts = [.. query["extrahosts"].OfType<string>().SelectMany(h => h.Split(',', StringSplitOptions.RemoveEmptyEntries))],
            MemoryBytes = Q("memory") is { Length: > 0 } memory ? Integer(memory, "memory") ?? 0 : 0,
            Credentials = RegistryConfig(context.Request.Headers["X-Registry-Config"]),
            CacheFrom = Q("cachefrom") is { Length: > 0 } cacheFrom && JsonList(cacheFrom, "cachefrom") is { Count: > 0 } sources ? sources : null,
        };
    }

    private static string ValidTag(string tag) =>
        ImageReference.TryParse(tag, out var reference, out var error) && reference.Digest is null
            ? tag
            : throw PortLayerException.InvalidParameter($"invalid reference format: {tag}{(error is null ? "" : ": " + error)}");

    private static Dictionary<string, string?> JsonMap(string text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }

        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string?>>(text) ?? [];
        }
        catch (JsonException ex)
        {
            throw PortLayerException.InvalidParameter($"invalid {name}: {ex.Message}");
        }
    }

    private static List<string> JsonList(string text, string name)
    {
        try
        {
            return JsonSerializer.Deserialize<List<string>>(text) ?? [];
        }
        catch (JsonException ex)
        {
            throw PortLayerException.InvalidParameter($"invalid {name}: {ex.Message}");
        }
    }

    /// <summary>The CLI's X-Registry-Config: base64 JSON of auth configs by registry.</summary>
    private static Dictionary<string, RegistryCredentials> RegistryConfig(string? header)
    {
        var result = new Dictionary<string, RegistryCredentials>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(header))
        {
            return result;
        }

        try
        {
            using var document = JsonDocument.Parse(RegistryAuthHeader.Base64Text(header));
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (RegistryAuthHeader.Parse(entry.Value.GetRawText()) is { } credentials)
                {
                    result[RegistryAuthHeader.RegistryOf(entry.Name)] = credentials;
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException or InvalidOperationException)
        {
            throw PortLayerException.InvalidParameter($"invalid X-Registry-Config header: {ex.Message}");
        }

        return result;
    }

    private static async Task<BuildContext> UnpackAsync(HttpContext context, string folder, long limit)
    {
        try
        {
            return await BuildContext.UnpackAsync(context.Request.Body, folder, limit, context.RequestAborted).ConfigureAwait(false);
        }
        catch (BuildException ex)
        {
            throw PortLayerException.InvalidParameter(ex.Message);
        }
    }

    /// <summary><c>remote=</c>: a tarball's URL is a context, a text file's URL a Dockerfile, a git URL a clone (when git is installed).</summary>
    private static async Task<BuildContext> RemoteContextAsync(string remote, string folder, long limit, CancellationToken cancellationToken)
    {
        if (GitRepository.IsGitUrl(remote))
        {
            return await GitContextAsync(remote, folder, cancellationToken).ConfigureAwait(false);
        }

        if (!Uri.TryCreate(remote, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw PortLayerException.InvalidParameter($"unable to prepare context: remote {remote} is neither an http(s) URL nor a git repository");
        }

        try
        {
            using var response = await RemoteFetch.GetAsync(remote, "", cancellationToken).ConfigureAwait(false);
            if (response.Content.Headers.ContentType?.MediaType is "text/plain" or "text/x-dockerfile")
            {
                return BuildContext.FromDockerfile(folder, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return await BuildContext.UnpackAsync(body, folder, limit, cancellationToken).ConfigureAwait(false);
        }
        catch (BuildException ex)
        {
            throw PortLayerException.InvalidParameter($"unable to prepare context: {ex.Message}");
        }
    }

    private static async Task<BuildContext> GitContextAsync(string remote, string folder, CancellationToken cancellationToken)
    {
        try
        {
            await GitRepository.CloneAsync(remote, folder, keepGitDir: false, cancellationToken).ConfigureAwait(false);
            return BuildContext.Adopt(folder);
        }
        catch (BuildException ex)
        {
            throw PortLayerException.InvalidParameter($"unable to prepare context: {ex.Message}");
        }
        catch
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            throw;
        }
    }

    /// <summary>The build's progress as dockerd writes it, flushed line by line.</summary>
    private sealed class StreamOutput(HttpContext context) : IBuildOutput, IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);

        public void Dispose() => _gate.Dispose();

        public IProgress<ImageStore.Pull.PullProgress> PullProgress => new Progress(this);

        public Task WriteAsync(string text, CancellationToken cancellationToken) => WriteMessageAsync(new ProgressMessage { Stream = text }, cancellationToken);

        public Task ResultAsync(string imageId, CancellationToken cancellationToken) => WriteMessageAsync(new ProgressMessage { Aux = new AuxId(imageId) }, cancellationToken);

        public async Task WriteMessageAsync(ProgressMessage message, CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await context.Response.WriteAsync(JsonSerializer.Serialize(message, DockerJson.Options) + "\r\n", cancellationToken).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        private sealed class Progress(StreamOutput output) : IProgress<ImageStore.Pull.PullProgress>
        {
            public void Report(ImageStore.Pull.PullProgress value)
            {
                output.WriteMessageAsync(PullStream.ToMessage(value), CancellationToken.None).GetAwaiter().GetResult();
            }
        }
    }
}

public sealed record BuildPruneResponse(IReadOnlyList<string> CachesDeleted, long SpaceReclaimed);
