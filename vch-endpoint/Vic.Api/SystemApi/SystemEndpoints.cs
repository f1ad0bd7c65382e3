using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Models;
using Vic.Api.Versioning;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Vch;

namespace Vic.Api.SystemApi;

/// <summary><c>/_ping</c>, <c>/version</c> and <c>/info</c>: what a client asks before anything else.</summary>
public static class SystemEndpoints
{
    public static void MapSystemEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/_ping", [HttpMethods.Get, HttpMethods.Head], Ping);
        routes.MapGet("/version", Version);
        routes.MapGet("/info", Info);
    }

    private static Task Ping(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers["Builder-Version"] = "1";
        headers["Swarm"] = "inactive";
        headers.CacheControl = "no-cache, no-store, must-revalidate";
        headers.Pragma = "no-cache";
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.ContentLength = 0;
            return Task.CompletedTask;
        }

        return context.Response.WriteAsync("OK");
    }

    private static Task Version(HttpContext context, VchEngine engine, EngineIdentity identity)
    {
        var details = new Dictionary<string, string>
        {
            ["ApiVersion"] = ApiVersion.Maximum.ToString(),
            ["Arch"] = "amd64",
            ["BuildTime"] = identity.BuildTime,
            ["Experimental"] = "false",
            ["GitCommit"] = identity.GitCommit,
            ["GoVersion"] = identity.Runtime,
            ["KernelVersion"] = engine.KernelRelease,
            ["MinAPIVersion"] = ApiVersion.Minimum.ToString(),
            ["Os"] = "linux",
        };
        return DockerJson.WriteAsync(context, new VersionResponse
        {
            Platform = new PlatformName("vSphere Integrated Containers (C#)"),
            Components = [new ComponentVersion("Engine", identity.Version, details)],
            Version = identity.Version,
            ApiVersion = ApiVersion.Maximum.ToString(),
            MinAPIVersion = ApiVersion.Minimum.ToString(),
            GitCommit = identity.GitCommit,
            GoVersion = identity.Runtime,
            KernelVersion = engine.KernelRelease,
            BuildTime = identity.BuildTime,
        });
    }

    private static async Task Info(HttpContext context, VchEngine engine, EngineIdentity identity, EventsListenerCount listeners)
    {
        var summary = await engine.SummarizeAsync(context.RequestAborted).ConfigureAwait(false);
        int Count(params ContainerState[] states) => states.Sum(s => summary.ContainersByState.GetValueOrDefault(s));

        var running = Count(ContainerState.Running, ContainerState.Restarting);
        var paused = Count(ContainerState.Paused);
        var stopped = Count(ContainerState.Created, ContainerState.Exited, ContainerState.Dead, ContainerState.Removing);
        var pool = summary.PoolLimit;
        var poolStatus = new List<string[]>
        {
            new[] { "VCH CPU limit", $"{pool.Cpus} vCPU" },
            new[] { "VCH memory limit", FormatBytes(pool.MemoryBytes) },
            new[] { "Compute backend", summary.Backend },
            new[] { "ContainerVM kernel", summary.ContainerVmKernel.Length == 0 ? "not configured" : summary.ContainerVmKernel },
        };
        poolStatus.AddRange(summary.BackendDetails.Select(d => new[] { d.Key, d.Value }));

        await DockerJson.WriteAsync(context, new InfoResponse
        {
            ID = summary.Id,
            Containers = running + paused + stopped,
            ContainersRunning = running,
            ContainersPaused = paused,
            ContainersStopped = stopped,
            Images = summary.Images,
            Driver = $"vSphere Integrated Containers ({summary.Backend} backend)",
            DriverStatus = poolStatus,
            SystemStatus = [],
            Plugins = new InfoPlugins(["vsphere"], ["bridge", "null"], null, ["json-file", "local", "syslog"]),
            SystemTime = engine.Time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ss.fffffffK", CultureInfo.InvariantCulture),
            NEventsListener = listeners.Current,
            KernelVersion = summary.ContainerVmKernel,
            OperatingSystem = "VMware vSphere Integrated Containers (C#)",
            RegistryConfig = Registries(summary.Registries),
            HttpProxy = summary.Registries.ShownProxies.HttpProxy,
            HttpsProxy = summary.Registries.ShownProxies.HttpsProxy,
            NoProxy = summary.Registries.ShownProxies.NoProxy,
            NCPU = pool.Cpus,
            MemTotal = pool.MemoryBytes,
            DockerRootDir = engine.Config.DataDirectory,
            Name = summary.Name,
            ServerVersion = identity.Version,
            Runtimes = new Dictionary<string, InfoRuntime> { ["containervm"] = new(summary.Backend) },
            Warnings = summary.Warnings,
        }).ConfigureAwait(false);
    }

    private static InfoRegistryConfig Registries(RegistryConfig config)
    {
        // dockerd lists insecure registries given as CIDRs apart from those given as host names; loopback is always insecure.
        var cidrs = new List<string> { "::1/128", "127.0.0.0/8" };
        var indexes = new Dictionary<string, InfoIndexConfig>
        {
            ["docker.io"] = new("docker.io", config.Mirrors, Secure: true, Official: true),
        };
        foreach (var registry in config.InsecureRegistries)
        {
            if (registry.Contains('/', StringComparison.Ordinal))
            {
                cidrs.Add(registry);
            }
            else
            {
                indexes[registry] = new InfoIndexConfig(registry, [], Secure: false, Official: false);
            }
        }

        return new InfoRegistryConfig { InsecureRegistryCIDRs = cidrs, IndexConfigs = indexes, Mirrors = config.Mirrors };
    }

    private static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 && bytes % (1L << 30) == 0
            ? $"{bytes >> 30} GiB"
            : $"{bytes >> 20} MiB";
}
