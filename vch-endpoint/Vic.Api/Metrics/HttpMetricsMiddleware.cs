using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Vic.Api.Metrics;

/// <summary>The API's request counter and timer, shared by Kestrel's routes and the hijacked ones.</summary>
public sealed class ApiRequestMetrics : IDisposable
{
    public const string MeterName = "Vic.Api";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;

    public ApiRequestMetrics()
    {
        _requests = _meter.CreateCounter<long>("vch_http_requests", description: "Docker API requests served");
        _duration = _meter.CreateHistogram<double>("vch_http_request_duration_seconds", "s", "Time to the end of each Docker API request");
    }

    public void Record(string method, string route, int status, TimeSpan elapsed)
    {
        var tags = new TagList
        {
            { "method", method },
            { "route", route },
            { "status", status },
        };
        _requests.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, tags);
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Counts and times every API request by method, route and status.</summary>
public sealed class HttpMetricsMiddleware(ApiRequestMetrics metrics) : IMiddleware
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.Record(context.Request.Method, route, context.Response.StatusCode, Stopwatch.GetElapsedTime(started));
        }
    }
}
