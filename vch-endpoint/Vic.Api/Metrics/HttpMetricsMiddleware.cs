using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Vic.Api.Metrics;

/// <summary>Counts and times every API request by method, route and status.</summary>
public sealed class HttpMetricsMiddleware : IMiddleware, IDisposable
{
    public const string MeterName = "Vic.Api";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;

    public HttpMetricsMiddleware()
    {
        _requests = _meter.CreateCounter<long>("vch_http_requests", description: "Docker API requests served");
        _duration = _meter.CreateHistogram<double>("vch_http_request_duration_seconds", "s", "Time to the end of each Docker API request");
    }

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
            var tags = new TagList
            {
                { "method", context.Request.Method },
                { "route", route },
                { "status", context.Response.StatusCode },
            };
            _requests.Add(1, tags);
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        }
    }

    public void Dispose() => _meter.Dispose();
}
