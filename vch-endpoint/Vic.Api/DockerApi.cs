using Vic.Api.BuildApi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Vic.Api.ContainersApi;
using Vic.Api.VolumesApi;
using Vic.Api.NetworksApi;
using Vic.Api.Errors;
using Vic.Api.ImagesApi;
using Vic.Api.Metrics;
using Vic.Api.Routing;
using Vic.Api.SwarmApi;
using Vic.Api.SystemApi;
using Vic.Api.Versioning;
using Vic.PortLayer.Vch;

namespace Vic.Api;

/// <summary>Wires the Docker Engine API onto an ASP.NET Core application, in front of one <see cref="VchEngine"/>.</summary>
public static class DockerApi
{
    /// <param name="policy">Who may do what (<c>--authz-policy</c>); null lets every caller the listeners admit do everything.</param>
    public static IServiceCollection AddDockerApi(this IServiceCollection services, Func<IServiceProvider, VchEngine> engine, EngineIdentity identity, Authorization.AuthorizationPolicy? policy = null)
    {
        services.AddSingleton(engine);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new Authorization.AuditLog(Path.Combine(sp.GetRequiredService<VchEngine>().Config.DataDirectory, "audit.log")));
        if (policy is not null)
        {
            services.AddSingleton(sp => new Authorization.AccessGuard(policy, sp.GetRequiredService<VchEngine>()));
        }

        services.AddSingleton(identity);
        services.AddSingleton<EventsListenerCount>();
        services.AddSingleton<ApiRequestMetrics>();
        services.AddSingleton<HttpMetricsMiddleware>();
        services.AddSingleton(_ => new PrometheusExporter([ApiRequestMetrics.MeterName, VchEngine.MeterName]));
        return services;
    }

    /// <summary>Adds the middleware (metrics, version prefix, Docker errors) and every route.</summary>
    public static WebApplication UseDockerApi(this WebApplication app)
    {
        // Create the exporter before the first request so it sees every measurement.
        var exporter = app.Services.GetRequiredService<PrometheusExporter>();
        app.UseMiddleware<HttpMetricsMiddleware>();
        app.UseMiddleware<ApiVersionMiddleware>();
        app.UseMiddleware<DockerErrorMiddleware>();
        app.UseMiddleware<Authorization.AuthorizationMiddleware>();
        app.UseRouting();

        app.MapSystemEndpoints();
        app.MapEventsEndpoint();
        app.MapImagesEndpoints();
        app.MapContainersEndpoints();
        app.MapContainerOperationsEndpoints();
        app.MapContainerFilesEndpoints();
        app.MapVolumesEndpoints();
        app.MapNetworksEndpoints();
        app.MapExecEndpoints();
        app.MapInactiveSwarmEndpoints();
        app.MapBuildEndpoints();
        app.MapGet("/metrics", (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return context.Response.WriteAsync(exporter.Scrape());
        });
        app.MapUnbuiltRoutes();
        return app;
    }
}
