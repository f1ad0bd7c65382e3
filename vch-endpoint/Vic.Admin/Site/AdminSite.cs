using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Vic.Admin.Access;
using Vic.Admin.Logs;
using Vic.Admin.Status;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Vch;

namespace Vic.Admin.Site;

/// <summary>
/// vicadmin's web application: its own Kestrel on its own TLS port, apart from the Docker API's, so
/// neither pipeline (nor its authentication) can reach into the other.
/// </summary>
public static partial class AdminSite
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static WebApplication Build(AdminConfig config, VchEngine engine, EndpointLogBuffer endpointLog, ILoggerFactory loggers, TimeProvider time, Action stopEndpoint)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // The endpoint's own logging (console and the buffer the page shows): vicadmin logs as part of it.
        builder.Services.Replace(ServiceDescriptor.Singleton(loggers));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(config.Listen, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = config.Certificate,
                    // A browser without a certificate still reaches the login form; one with the VCH's
                    // client certificate is let in by the access check, not by the handshake.
                    ClientCertificateMode = config.ClientCertificateTrusted is null ? ClientCertificateMode.NoCertificate : ClientCertificateMode.AllowCertificate,
                    ClientCertificateValidation = (_, _, _) => true,
                });
            });
        });

        var table = new ContainerVmTable(engine.Containers, engine.Inventory);
        var usage = new PoolUsageHistory();
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(new AdminSessions(time));
        builder.Services.AddSingleton(table);
        builder.Services.AddSingleton(usage);
        builder.Services.AddSingleton(sp => new PoolUsageSampler(table, usage, time, config.SampleInterval, sp.GetRequiredService<ILogger<PoolUsageSampler>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PoolUsageSampler>());

        var app = builder.Build();
        var logger = loggers.CreateLogger("Vic.Admin");
        var bundle = new LogBundle(endpointLog, table, engine.Runtime, engine.Consoles, time);
        var started = time.GetUtcNow();
        app.UseMiddleware<AdminAccessMiddleware>();

        app.MapGet("/login", (HttpContext context) => LoginPage(config, context.Request.Query.ContainsKey("failed")));
        app.MapPost("/login", (HttpContext context, AdminSessions sessions) => LogInAsync(context, config, sessions, logger));
        app.MapPost("/logout", (HttpContext context, AdminSessions sessions) =>
        {
            sessions.Close(context.Request.Cookies[AdminAccessMiddleware.SessionCookie]);
            context.Response.Cookies.Delete(AdminAccessMiddleware.SessionCookie);
            return Results.Redirect("/login", permanent: false, preserveMethod: false);
        });
        app.MapGet("/", () => Results.Bytes(EmbeddedAssets.Find("index.html")!, EmbeddedAssets.ContentTypeOf("index.html")));
        app.MapGet("/static/{name}", (string name) =>
            EmbeddedAssets.Find(name) is { } file && name != "index.html" && name != "login.html"
                ? Results.Bytes(file, EmbeddedAssets.ContentTypeOf(name))
                : Results.NotFound());

        app.MapGet("/api/vch", async (HttpContext context, CancellationToken cancellationToken) =>
            Results.Json(await AboutAsync(engine, config, started, cancellationToken).ConfigureAwait(false) with { User = (string)context.Items[AdminAccessMiddleware.UserItem]! }, Json));
        app.MapGet("/api/containers", async (CancellationToken cancellationToken) => Results.Json(await table.ListAsync(cancellationToken).ConfigureAwait(false), Json));
        app.MapGet("/api/usage", async (PoolUsageSampler sampler, CancellationToken cancellationToken) =>
        {
            // The history's newest sample may be seconds old: the figures and the chart's last point are now's.
            var now = await sampler.MeasureAsync(cancellationToken).ConfigureAwait(false);
            var summary = await engine.SummarizeAsync(cancellationToken).ConfigureAwait(false);
            return Results.Json(new { limit = new { summary.PoolLimit.Cpus, summary.PoolLimit.MemoryBytes }, samples = usage.Samples().Append(now) }, Json);
        });
        app.MapGet("/api/containers/{id}/logs", (string id, int? tail) => ContainerOutput(engine, id, Math.Clamp(tail ?? 200, 1, 10_000)));
        app.MapGet("/api/log", (HttpContext context) => StreamEndpointLogAsync(context, endpointLog, app.Lifetime.ApplicationStopping));
        app.MapPost("/api/stop", (HttpContext context) =>
        {
            // vic-machine's, before it writes an appliance's config disk again: the endpoint stops, its
            // supervisor ends and the appliance unmounts its data disk and powers off. Only the VCH's
            // client certificate may ask it, never a browser's login, which a forged form could ride.
            if (context.Connection.ClientCertificate is not { } certificate || config.ClientCertificateTrusted?.Invoke(certificate) != true)
            {
                return Results.Json(new { message = "stopping the endpoint takes the VCH's client certificate (vic-machine's), not a login" }, statusCode: StatusCodes.Status403Forbidden);
            }

            Log.StopAsked(logger, (string)context.Items[AdminAccessMiddleware.UserItem]!);
            context.Response.OnCompleted(() =>
            {
                stopEndpoint();
                return Task.CompletedTask;
            });
            return Results.Json(new { message = "the endpoint is stopping" }, statusCode: StatusCodes.Status202Accepted);
        });
        app.MapGet("/logs.zip", async (HttpContext context, CancellationToken cancellationToken) =>
        {
            var about = await AboutAsync(engine, config, started, cancellationToken).ConfigureAwait(false);
            // Written whole to a temporary file first: the zip's central directory needs a seekable
            // stream, and a failure then is an HTTP error, not a truncated download.
            await using var file = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
            await bundle.WriteAsync(file, about, config.Settings, cancellationToken).ConfigureAwait(false);
            file.Position = 0;
            Log.BundleDownloaded(logger, (string)context.Items[AdminAccessMiddleware.UserItem]!, file.Length);
            context.Response.ContentType = "application/zip";
            context.Response.ContentLength = file.Length;
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{bundle.FileName(engine.Config.Name)}\"";
            await file.CopyToAsync(context.Response.Body, cancellationToken).ConfigureAwait(false);
        });
        return app;
    }

    /// <summary>What the page's header and settings panel show.</summary>
    public sealed record VchAbout(
        string Name,
        string Id,
        string Version,
        string Backend,
        string ContainerVmKernel,
        int PoolCpus,
        long PoolMemoryBytes,
        IReadOnlyDictionary<string, int> Containers,
        long Images,
        DateTimeOffset StartedAt,
        IReadOnlyList<KeyValuePair<string, string>> Settings,
        IReadOnlyList<KeyValuePair<string, string>> BackendDetails,
        IReadOnlyList<string> Warnings,
        string User = "");

    private static async Task<VchAbout> AboutAsync(VchEngine engine, AdminConfig config, DateTimeOffset started, CancellationToken cancellationToken)
    {
        var summary = await engine.SummarizeAsync(cancellationToken).ConfigureAwait(false);
        return new VchAbout(
            summary.Name,
            summary.Id,
            config.Version,
            summary.Backend,
            summary.ContainerVmKernel,
            summary.PoolLimit.Cpus,
            summary.PoolLimit.MemoryBytes,
            summary.ContainersByState.ToDictionary(p => p.Key.ToWire(), p => p.Value),
            summary.Images,
            started,
            config.Settings,
            summary.BackendDetails,
            summary.Warnings);
    }

    private static IResult LoginPage(AdminConfig config, bool failed)
    {
        var sources = string.Join(" or ", config.PasswordChecks.Select(c => c.Source));
        if (config.ClientCertificateTrusted is not null)
        {
            sources = sources.Length == 0 ? "a client certificate of this VCH" : $"{sources}, or present a client certificate of this VCH";
        }

        var html = EmbeddedAssets.Text("login.html")
            .Replace("{{SOURCES}}", HtmlEncoder.Default.Encode(sources), StringComparison.Ordinal)
            .Replace("{{FAILED}}", failed ? "<p class=\"error\" role=\"alert\">Wrong user name or password.</p>" : "", StringComparison.Ordinal);
        return Results.Content(html, "text/html; charset=utf-8");
    }

    private static async Task<IResult> LogInAsync(HttpContext context, AdminConfig config, AdminSessions sessions, ILogger logger)
    {
        var form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false) : null;
        var user = form?["user"].ToString() ?? "";
        var password = form?["password"].ToString() ?? "";
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "?";
        foreach (var check in config.PasswordChecks)
        {
            if (await check.CheckAsync(user, password, context.RequestAborted).ConfigureAwait(false))
            {
                context.Response.Cookies.Append(AdminAccessMiddleware.SessionCookie, sessions.Open(user), new CookieOptions
                {
                    HttpOnly = true,
                    Secure = true,
                    SameSite = SameSiteMode.Strict,
                    Path = "/",
                });
                Log.LoggedIn(logger, user, remote);
                return Results.Redirect("/", permanent: false, preserveMethod: false);
            }
        }

        Log.LoginRefused(logger, user, remote);
        // A refused login costs a second: guessing passwords through the form is slow.
        await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted).ConfigureAwait(false);
        return Results.Redirect("/login?failed=1", permanent: false, preserveMethod: false);
    }

    private static IResult ContainerOutput(VchEngine engine, string id, int tail)
    {
        try
        {
            var history = engine.Runtime.Logs(id, follow: false).History;
            return Results.Json(
                history.Skip(Math.Max(0, history.Count - tail)).Select(c => new { time = c.Time, stream = c.Stream.ToString().ToLowerInvariant(), text = System.Text.Encoding.UTF8.GetString(c.Data) }),
                Json);
        }
        catch (PortLayerException ex)
        {
            return Results.Json(new { message = ex.Message }, Json, statusCode: ex.Kind == ErrorKind.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);
        }
    }

    /// <summary>The endpoint's log as server-sent events: what is held, then every new line until the page goes.</summary>
    private static async Task StreamEndpointLogAsync(HttpContext context, EndpointLogBuffer endpointLog, CancellationToken stopping)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers["X-Accel-Buffering"] = "no";

        // An open page must not hold the endpoint's shutdown: the stream ends when the endpoint stops.
        using var follow = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var (history, live) = endpointLog.Follow(follow.Token);
        try
        {
            foreach (var line in history.Skip(Math.Max(0, history.Count - 500)))
            {
                await WriteEventAsync(context, line).ConfigureAwait(false);
            }

            await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            await foreach (var line in live.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
            {
                await WriteEventAsync(context, line).ConfigureAwait(false);
                if (!live.TryPeek(out _))
                {
                    await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (follow.IsCancellationRequested)
        {
            // The page was closed, or the endpoint is stopping.
        }
        finally
        {
            // However the stream ended, the buffer forgets this reader.
            await follow.CancelAsync().ConfigureAwait(false);
        }
    }

    private static Task WriteEventAsync(HttpContext context, EndpointLogLine line) =>
        context.Response.WriteAsync($"id: {line.Sequence}\ndata: {JsonSerializer.Serialize(line, Json)}\n\n", context.RequestAborted);

    private static partial class Log
    {
        [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "vicadmin: {User} logged in from {Remote}")]
        public static partial void LoggedIn(ILogger logger, string user, string remote);

        [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "vicadmin: a login as '{User}' from {Remote} was refused")]
        public static partial void LoginRefused(ILogger logger, string user, string remote);

        [LoggerMessage(EventId = 6004, Level = LogLevel.Information, Message = "vicadmin: {User} downloaded the log bundle ({Bytes} bytes)")]
        public static partial void BundleDownloaded(ILogger logger, string user, long bytes);

        [LoggerMessage(EventId = 6005, Level = LogLevel.Warning, Message = "vicadmin: {User} asked the endpoint to stop")]
        public static partial void StopAsked(ILogger logger, string user);
    }
}
